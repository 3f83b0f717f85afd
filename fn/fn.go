package main

import (
	"context"
	"crypto/rand"
	"io"
	"slices"

	"github.com/crossplane/function-sdk-go/errors"
	"github.com/crossplane/function-sdk-go/logging"
	fnv1 "github.com/crossplane/function-sdk-go/proto/v1"
	"github.com/crossplane/function-sdk-go/request"
	"github.com/crossplane/function-sdk-go/resource"
	"github.com/crossplane/function-sdk-go/resource/composed"
	"github.com/crossplane/function-sdk-go/response"
	"k8s.io/apimachinery/pkg/runtime"
)

// Function composes a complete Jitsi Meet from a Jitsi claim.
type Function struct {
	fnv1.UnimplementedFunctionRunnerServiceServer

	log logging.Logger
	// random is the source of generated passwords: crypto/rand.Reader unless a test says
	// otherwise.
	random io.Reader
}

// NewFunction returns a Function that logs to log.
func NewFunction(log logging.Logger) *Function {
	return &Function{log: log, random: rand.Reader}
}

// composedObject is one object the function wants, under its composition resource name.
type composedObject struct {
	name resource.Name
	obj  runtime.Object
}

// RunFunction turns the observed XR into the desired Jitsi objects.
func (f *Function) RunFunction(_ context.Context, req *fnv1.RunFunctionRequest) (*fnv1.RunFunctionResponse, error) {
	rsp := response.To(req, response.DefaultTTL)

	oxr, err := request.GetObservedCompositeResource(req)
	if err != nil {
		response.Fatal(rsp, errors.Wrap(err, "cannot get the observed composite resource"))
		return rsp, nil
	}
	log := f.log.WithValues("xr-kind", oxr.Resource.GetKind(), "xr-name", oxr.Resource.GetName())

	in, err := loadInstance(oxr.Resource)
	if err != nil {
		log.Info("Invalid Jitsi", "error", err)
		response.Fatal(rsp, errors.Wrapf(err, "invalid %s %s", oxr.Resource.GetKind(), oxr.Resource.GetName()))
		return rsp, nil
	}

	observed, err := request.GetObservedComposedResources(req)
	if err != nil {
		response.Fatal(rsp, errors.Wrap(err, "cannot get the observed composed resources"))
		return rsp, nil
	}
	desired, err := request.GetDesiredComposedResources(req)
	if err != nil {
		response.Fatal(rsp, errors.Wrap(err, "cannot get the desired composed resources"))
		return rsp, nil
	}

	objects, err := compose(in, observedResource(observed, resourceSecret), f.random)
	if err != nil {
		response.Fatal(rsp, errors.Wrap(err, "cannot compose Jitsi"))
		return rsp, nil
	}
	for _, o := range objects {
		u, err := toComposed(o.obj)
		if err != nil {
			response.Fatal(rsp, errors.Wrapf(err, "cannot compose %s", o.name))
			return rsp, nil
		}
		desired[o.name] = &resource.DesiredComposed{Resource: u, Ready: readiness(o.name, observedResource(observed, o.name))}
	}
	if err := response.SetDesiredComposedResources(rsp, desired); err != nil {
		response.Fatal(rsp, errors.Wrap(err, "cannot set the desired composed resources"))
		return rsp, nil
	}

	status := observeStatus(in, observedResource(observed, resourceJVB), observedResource(observed, resourceJVBAutoscaler))
	dxr, err := request.GetDesiredCompositeResource(req)
	if err != nil {
		response.Fatal(rsp, errors.Wrap(err, "cannot get the desired composite resource"))
		return rsp, nil
	}
	dxr.Resource.SetAPIVersion(oxr.Resource.GetAPIVersion())
	dxr.Resource.SetKind(oxr.Resource.GetKind())
	if err := dxr.Resource.SetValue("status.url", status.URL); err != nil {
		response.Fatal(rsp, errors.Wrap(err, "cannot set status.url"))
		return rsp, nil
	}
	if err := dxr.Resource.SetValue("status.jvb", map[string]any{
		"replicas": int64(status.JVB.Replicas), "desired": int64(status.JVB.Desired),
	}); err != nil {
		response.Fatal(rsp, errors.Wrap(err, "cannot set status.jvb"))
		return rsp, nil
	}
	if err := response.SetDesiredCompositeResource(rsp, dxr); err != nil {
		response.Fatal(rsp, errors.Wrap(err, "cannot set the desired composite resource"))
		return rsp, nil
	}

	if status.JVB.Replicas >= status.JVB.Desired {
		response.ConditionTrue(rsp, conditionBridgesReady, reasonAllReady).
			WithMessage(bridgesMessage(status.JVB)).TargetCompositeAndClaim()
	} else {
		response.ConditionFalse(rsp, conditionBridgesReady, reasonWaiting).
			WithMessage(bridgesMessage(status.JVB)).TargetCompositeAndClaim()
	}
	log.Debug("Composed Jitsi", "namespace", in.namespace, "objects", len(objects),
		"bridges-ready", status.JVB.Replicas, "bridges-desired", status.JVB.Desired)
	return rsp, nil
}

// compose returns every object of the instance, in a stable order.
func compose(in *instance, observedSecret *composed.Unstructured, random io.Reader) ([]composedObject, error) {
	secret, err := xmppSecret(in, observedSecret, random)
	if err != nil {
		return nil, err
	}
	return slices.Concat(
		[]composedObject{{resourceSecret, secret}},
		prosody(in),
		jicofo(in),
		web(in),
		jvb(in),
		jvbAutoscaler(in),
		jibri(in),
	), nil
}

// observedResource returns the observed object of that name, or nil if it does not exist.
func observedResource(observed map[resource.Name]resource.ObservedComposed, name resource.Name) *composed.Unstructured {
	o, ok := observed[name]
	if !ok || o.Resource == nil {
		return nil
	}
	return o.Resource
}
