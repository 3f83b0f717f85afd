package main

import (
	"context"
	"crypto/rand"
	"io"
	"slices"
	"time"

	"github.com/crossplane/function-sdk-go/errors"
	"github.com/crossplane/function-sdk-go/logging"
	fnv1 "github.com/crossplane/function-sdk-go/proto/v1"
	"github.com/crossplane/function-sdk-go/request"
	"github.com/crossplane/function-sdk-go/resource"
	"github.com/crossplane/function-sdk-go/resource/composed"
	"github.com/crossplane/function-sdk-go/response"
	"google.golang.org/protobuf/types/known/durationpb"
	"k8s.io/apimachinery/pkg/runtime"
)

// Function composes a complete Jitsi Meet from a Jitsi claim.
type Function struct {
	fnv1.UnimplementedFunctionRunnerServiceServer

	log logging.Logger
	// random is the source of generated passwords: crypto/rand.Reader unless a test says
	// otherwise.
	random io.Reader
	// now is the clock the schedule is read on: time.Now unless a test says otherwise.
	now func() time.Time
}

// NewFunction returns a Function that logs to log.
func NewFunction(log logging.Logger) *Function {
	return &Function{log: log, random: rand.Reader, now: time.Now}
}

// composedObject is one object the function wants, under its composition resource name.
type composedObject struct {
	name resource.Name
	obj  runtime.Object
}

// RunFunction turns the observed XR into the desired Jitsi objects.
func (f *Function) RunFunction(ctx context.Context, req *fnv1.RunFunctionRequest) (*fnv1.RunFunctionResponse, error) {
	rsp := response.To(req, response.DefaultTTL)

	oxr, err := request.GetObservedCompositeResource(req)
	if err != nil {
		response.Fatal(rsp, errors.Wrap(err, "cannot get the observed composite resource"))
		return rsp, nil
	}
	log := f.log.WithValues("xr-kind", oxr.Resource.GetKind(), "xr-name", oxr.Resource.GetName())

	in, err := loadInstance(ctx, oxr.Resource)
	if err != nil {
		log.Info("Invalid Jitsi", "error", err)
		response.Fatal(rsp, errors.Wrapf(err, "invalid %s %s", oxr.Resource.GetKind(), oxr.Resource.GetName()))
		return rsp, nil
	}

	now := f.now()
	in.floor = in.scheduledFloor(now)
	if in.spec.JVB.Schedule != nil {
		// Be called again when the schedule changes the floor.
		rsp.Meta.Ttl = durationpb.New(scheduleTTL(now, in.floor.next))
	}

	observed, err := request.GetObservedComposedResources(req)
	if err != nil {
		response.Fatal(rsp, errors.Wrap(err, "cannot get the observed composed resources"))
		return rsp, nil
	}

	objects, warnings, err := compose(in, observed, f.random)
	if err != nil {
		response.Fatal(rsp, errors.Wrap(err, "cannot compose Jitsi"))
		return rsp, nil
	}
	for _, w := range warnings {
		log.Info("Composed with a warning", "warning", w)
		response.Warning(rsp, errors.New(w)).TargetCompositeAndClaim()
	}
	// The response already holds what earlier pipeline steps desired; add ours.
	if rsp.Desired == nil {
		rsp.Desired = &fnv1.State{}
	}
	if rsp.Desired.Resources == nil {
		rsp.Desired.Resources = make(map[string]*fnv1.Resource, len(objects))
	}
	for _, o := range objects {
		s, err := toStruct(o.obj)
		if err != nil {
			response.Fatal(rsp, errors.Wrapf(err, "cannot compose %s", o.name))
			return rsp, nil
		}
		rsp.Desired.Resources[string(o.name)] = &fnv1.Resource{Resource: s, Ready: readiness(o.name, observedResource(observed, o.name))}
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
	jvbStatus := map[string]any{"replicas": int64(status.JVB.Replicas), "desired": int64(status.JVB.Desired)}
	if sched := status.JVB.Schedule; sched != nil {
		windows := make([]any, len(sched.Windows))
		for i, w := range sched.Windows {
			windows[i] = int64(w)
		}
		s := map[string]any{"minReplicas": int64(sched.MinReplicas), "windows": windows}
		if sched.NextChange != nil {
			s["nextChange"] = sched.NextChange.UTC().Format(time.RFC3339)
		}
		jvbStatus["schedule"] = s
	}
	if err := dxr.Resource.SetValue("status.jvb", jvbStatus); err != nil {
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
	if in.spec.JVB.Schedule != nil {
		if len(in.floor.windows) > 0 {
			response.ConditionTrue(rsp, conditionScheduled, reasonWindowOpen).
				WithMessage(in.describeFloor(in.floor)).TargetCompositeAndClaim()
		} else {
			response.ConditionFalse(rsp, conditionScheduled, reasonNoWindowOpen).
				WithMessage(in.describeFloor(in.floor)).TargetCompositeAndClaim()
		}
	}
	log.Debug("Composed Jitsi", "namespace", in.namespace, "objects", len(objects),
		"bridges-ready", status.JVB.Replicas, "bridges-desired", status.JVB.Desired)
	return rsp, nil
}

// compose returns every object of the instance, in a stable order, and what the tenant
// should know about them.
func compose(in *instance, observed map[resource.Name]resource.ObservedComposed, random io.Reader) ([]composedObject, []string, error) {
	secret, err := xmppSecret(in, observedResource(observed, resourceSecret), random)
	if err != nil {
		return nil, nil, err
	}
	jvbAccess, accessWarnings := jvbNodeAccess(in)
	recorders, recorderWarnings := jibri(in, observedResource(observed, resourceJibri))
	return slices.Concat(
		[]composedObject{{resourceSecret, secret}},
		prosody(in),
		jicofo(in),
		web(in),
		jvb(in),
		jvbAccess,
		jvbAutoscaler(in),
		jvbSpares(in),
		recorders,
		networkPolicies(in),
	), slices.Concat(accessWarnings, recorderWarnings), nil
}

// observedResource returns the observed object of that name, or nil if it does not exist.
func observedResource(observed map[resource.Name]resource.ObservedComposed, name resource.Name) *composed.Unstructured {
	o, ok := observed[name]
	if !ok || o.Resource == nil {
		return nil
	}
	return o.Resource
}
