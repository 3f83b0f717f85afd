package harness

import (
	"context"
	"time"

	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/dynamic/dynamicinformer"
	"k8s.io/client-go/tools/cache"
)

// controller runs a level-triggered reconcile of every object of one resource, as the
// Crossplane controllers the test doubles stand in for do: on every change to an object of
// the resource, again 500 ms after a failed pass, and every 5 s regardless.
type controller struct {
	cancel context.CancelFunc
	done   chan struct{}
}

// startController watches gvr and calls reconcileAll, which reports whether the pass
// succeeded, until stop.
func startController(ctx context.Context, dyn dynamic.Interface, gvr schema.GroupVersionResource, reconcileAll func(context.Context) bool) (*controller, error) {
	ctx, cancel := context.WithCancel(context.WithoutCancel(ctx))
	c := &controller{cancel: cancel, done: make(chan struct{})}
	trigger := make(chan struct{}, 1)
	poke := func() {
		select {
		case trigger <- struct{}{}:
		default:
		}
	}
	factory := dynamicinformer.NewDynamicSharedInformerFactory(dyn, 0)
	if _, err := factory.ForResource(gvr).Informer().AddEventHandler(cache.ResourceEventHandlerFuncs{
		AddFunc:    func(any) { poke() },
		UpdateFunc: func(any, any) { poke() },
		DeleteFunc: func(any) { poke() },
	}); err != nil {
		cancel()
		return nil, err
	}
	factory.Start(ctx.Done())
	go func() {
		defer close(c.done)
		defer factory.Shutdown()
		for {
			wait := 5 * time.Second
			if !reconcileAll(ctx) {
				wait = 500 * time.Millisecond
			}
			select {
			case <-ctx.Done():
				return
			case <-trigger:
			case <-time.After(wait):
			}
		}
	}()
	return c, nil
}

// stop stops the loop and waits for the pass under way.
func (c *controller) stop() {
	c.cancel()
	<-c.done
}
