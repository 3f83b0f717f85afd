package harness

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"time"

	authenticationv1 "k8s.io/api/authentication/v1"
	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"
	clientcmdapi "k8s.io/client-go/tools/clientcmd/api"
	"k8s.io/utils/ptr"
)

// Service accounts of the Crossplane v2.4.0 Helm chart (serviceaccount.yaml,
// rbac-manager-serviceaccount.yaml).
const (
	crossplaneServiceAccount  = "crossplane"
	rbacManagerServiceAccount = "rbac-manager"
	// aggregateToCrossplane is the label the chart's crossplane ClusterRole aggregates: the
	// RBAC manager puts it on each XRD's rules, users on what their compositions need
	// (package/cluster/rbac.yaml).
	aggregateToCrossplane = "rbac.crossplane.io/aggregate-to-crossplane"
)

// crossplaneRBAC are the chart's RBAC objects for the core and the RBAC manager, as the
// chart renders them with its defaults (rbacManager.deploy: true), from
// cluster/charts/crossplane/templates/{clusterrole,clusterrolebinding,rbac-manager-clusterrole,
// rbac-manager-clusterrolebinding}.yaml of github.com/crossplane/crossplane/v2 v2.4.0. The
// chart's user-facing roles (crossplane-admin, -edit, -view, -browse) are left out: nothing
// here acts as a user of them.
func crossplaneRBAC(namespace string) ([]*rbacv1.ClusterRole, []*rbacv1.ClusterRoleBinding) {
	all := []string{rbacv1.VerbAll}
	crud := []string{"get", "list", "create", "update", "patch", "watch", "delete"}
	roles := []*rbacv1.ClusterRole{
		{
			ObjectMeta: metav1.ObjectMeta{Name: "crossplane", Labels: map[string]string{"app": "crossplane"}},
			AggregationRule: &rbacv1.AggregationRule{ClusterRoleSelectors: []metav1.LabelSelector{
				{MatchLabels: map[string]string{aggregateToCrossplane: "true"}},
			}},
		},
		{
			ObjectMeta: metav1.ObjectMeta{Name: "crossplane:system:aggregate-to-crossplane", Labels: map[string]string{
				"app": "crossplane", "crossplane.io/scope": "system", aggregateToCrossplane: "true",
			}},
			Rules: []rbacv1.PolicyRule{
				{APIGroups: []string{""}, Resources: []string{"events"}, Verbs: []string{"create", "update", "patch", "delete"}},
				{APIGroups: []string{"apiextensions.k8s.io"}, Resources: []string{"customresourcedefinitions", "customresourcedefinitions/status"}, Verbs: all},
				{APIGroups: []string{""}, Resources: []string{"secrets"}, Verbs: []string{"get", "list", "watch", "create", "update", "patch", "delete"}},
				{APIGroups: []string{""}, Resources: []string{"serviceaccounts", "services"}, Verbs: all},
				{APIGroups: []string{"apiextensions.crossplane.io", "ops.crossplane.io", "pkg.crossplane.io", "protection.crossplane.io"}, Resources: []string{"*"}, Verbs: all},
				{APIGroups: []string{"extensions", "apps"}, Resources: []string{"deployments"}, Verbs: []string{"get", "list", "create", "update", "patch", "delete", "watch"}},
				{APIGroups: []string{"", "coordination.k8s.io"}, Resources: []string{"configmaps", "leases"}, Verbs: crud},
				{APIGroups: []string{"admissionregistration.k8s.io"}, Resources: []string{"validatingwebhookconfigurations", "mutatingwebhookconfigurations"}, Verbs: crud},
			},
		},
		{
			ObjectMeta: metav1.ObjectMeta{Name: "crossplane-rbac-manager", Labels: map[string]string{"app": "crossplane"}},
			Rules: []rbacv1.PolicyRule{
				{APIGroups: []string{""}, Resources: []string{"events"}, Verbs: []string{"create", "update", "patch", "delete"}},
				{APIGroups: []string{""}, Resources: []string{"namespaces"}, Verbs: []string{"get", "list", "watch"}},
				{APIGroups: []string{"apps"}, Resources: []string{"deployments"}, Verbs: []string{"get", "list", "watch"}},
				{APIGroups: []string{""}, Resources: []string{"namespaces/finalizers"}, Verbs: []string{"update"}},
				{APIGroups: []string{"apiextensions.crossplane.io"}, Resources: []string{"compositeresourcedefinitions"}, Verbs: []string{"get", "list", "watch"}},
				{APIGroups: []string{"apiextensions.crossplane.io"}, Resources: []string{"compositeresourcedefinitions/finalizers"}, Verbs: []string{"update"}},
				{APIGroups: []string{"pkg.crossplane.io"}, Resources: []string{"providerrevisions"}, Verbs: []string{"get", "list", "watch"}},
				{APIGroups: []string{"pkg.crossplane.io"}, Resources: []string{"providerrevisions/finalizers"}, Verbs: []string{"update"}},
				{APIGroups: []string{"apiextensions.k8s.io"}, Resources: []string{"customresourcedefinitions"}, Verbs: []string{"get", "list", "watch"}},
				{APIGroups: []string{"rbac.authorization.k8s.io"}, Resources: []string{"clusterroles", "roles"}, Verbs: []string{"get", "list", "watch", "create", "update", "patch", "escalate"}},
				{APIGroups: []string{"rbac.authorization.k8s.io"}, Resources: []string{"clusterroles"}, Verbs: []string{"bind"}},
				{APIGroups: []string{"rbac.authorization.k8s.io"}, Resources: []string{"clusterrolebindings"}, Verbs: all},
				{APIGroups: []string{"", "coordination.k8s.io"}, Resources: []string{"configmaps", "leases"}, Verbs: crud},
			},
		},
	}
	bind := func(name, role, sa string) *rbacv1.ClusterRoleBinding {
		return &rbacv1.ClusterRoleBinding{
			ObjectMeta: metav1.ObjectMeta{Name: name, Labels: map[string]string{"app": "crossplane"}},
			RoleRef:    rbacv1.RoleRef{APIGroup: rbacv1.GroupName, Kind: "ClusterRole", Name: role},
			Subjects:   []rbacv1.Subject{{Kind: rbacv1.ServiceAccountKind, Name: sa, Namespace: namespace}},
		}
	}
	return roles, []*rbacv1.ClusterRoleBinding{
		bind("crossplane", "crossplane", crossplaneServiceAccount),
		bind("crossplane-rbac-manager", "crossplane-rbac-manager", rbacManagerServiceAccount),
	}
}

// installCrossplaneRBAC creates the chart's service accounts, roles and bindings, and writes
// a kubeconfig for each service account, authenticated by a token from the TokenRequest API
// as a pod's projected token is. It returns the kubeconfigs by service account.
func installCrossplaneRBAC(ctx context.Context, c *Cluster, namespace, dir string) (map[string]string, error) {
	roles, bindings := crossplaneRBAC(namespace)
	rbac := c.Client.RbacV1()
	for _, r := range roles {
		if _, err := rbac.ClusterRoles().Create(ctx, r, metav1.CreateOptions{}); err != nil && !apierrors.IsAlreadyExists(err) {
			return nil, fmt.Errorf("cannot create ClusterRole %s: %w", r.Name, err)
		}
	}
	for _, b := range bindings {
		if _, err := rbac.ClusterRoleBindings().Create(ctx, b, metav1.CreateOptions{}); err != nil && !apierrors.IsAlreadyExists(err) {
			return nil, fmt.Errorf("cannot create ClusterRoleBinding %s: %w", b.Name, err)
		}
	}
	kubeconfigs := map[string]string{}
	for _, sa := range []string{crossplaneServiceAccount, rbacManagerServiceAccount} {
		path, err := serviceAccountKubeconfig(ctx, c, namespace, sa, dir)
		if err != nil {
			return nil, err
		}
		kubeconfigs[sa] = path
	}
	return kubeconfigs, nil
}

// serviceAccountKubeconfig creates a service account and writes a kubeconfig with a token
// for it, valid for longer than any test.
func serviceAccountKubeconfig(ctx context.Context, c *Cluster, namespace, name, dir string) (string, error) {
	sas := c.Client.CoreV1().ServiceAccounts(namespace)
	if _, err := sas.Create(ctx, &corev1.ServiceAccount{ObjectMeta: metav1.ObjectMeta{Name: name}}, metav1.CreateOptions{}); err != nil && !apierrors.IsAlreadyExists(err) {
		return "", fmt.Errorf("cannot create service account %s: %w", name, err)
	}
	expiry := int64((6 * time.Hour).Seconds())
	tr, err := sas.CreateToken(ctx, name, &authenticationv1.TokenRequest{
		Spec: authenticationv1.TokenRequestSpec{ExpirationSeconds: &expiry},
	}, metav1.CreateOptions{})
	if err != nil {
		return "", fmt.Errorf("cannot issue a token for service account %s: %w", name, err)
	}
	admin, err := clientcmd.LoadFromFile(c.Kubeconfig)
	if err != nil {
		return "", err
	}
	cluster := admin.Clusters[admin.Contexts[admin.CurrentContext].Cluster]
	cfg := clientcmdapi.NewConfig()
	cfg.Clusters["local"] = cluster
	cfg.AuthInfos[name] = &clientcmdapi.AuthInfo{Token: tr.Status.Token}
	cfg.Contexts["local"] = &clientcmdapi.Context{Cluster: "local", AuthInfo: name}
	cfg.CurrentContext = "local"
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return "", err
	}
	path := filepath.Join(dir, name+".kubeconfig")
	return path, clientcmd.WriteToFile(*cfg, path)
}

// restConfigFor loads a kubeconfig as client-go's rest.Config.
func restConfigFor(kubeconfig string) (*rest.Config, error) {
	cfg, err := clientcmd.BuildConfigFromFlags("", kubeconfig)
	if err != nil {
		return nil, err
	}
	cfg.QPS, cfg.Burst = 200, 400
	return cfg, nil
}

// CompositeResourceDefinitions is the resource of Crossplane's XRDs (every XRD, v1 and v2,
// is served at both versions).
var CompositeResourceDefinitions = schema.GroupVersionResource{Group: "apiextensions.crossplane.io", Version: "v1", Resource: "compositeresourcedefinitions"}

// XRDRoles stands in for the definition controller of Crossplane's RBAC manager
// (`crossplane rbac start`), github.com/crossplane/crossplane/v2 v2.4.0,
// internal/controller/rbac/definition (roles.go RenderClusterRoles, reconciler.go): for each
// XRD it applies the ClusterRole crossplane:composite:<xrd>:aggregate-to-crossplane, labelled
// rbac.crossplane.io/aggregate-to-crossplane and controlled by the XRD, which lets the core
// manage the XRD's composites (and claims): all verbs on them and their status, update on
// their finalizers. It acts as the rbac-manager service account.
//
// Why not the RBAC manager itself: its controller-runtime metrics server binds :8080 on every
// interface, and no flag or variable moves it. The JVB stats doubles of other suites listen on
// 127.x.y.z:8080 (pod IPs), so each would make the other fail to bind whenever two suites
// run at once ("listen tcp :8080: bind: address already in use", seen on this machine). The
// RBAC manager's other roles (aggregate-to-edit, -view, -browse) serve users; nothing here
// acts as one, so they are left out.
type XRDRoles struct {
	controller *controller
}

// StartXRDRoles starts the RBAC manager's stand-in with cfg's credentials.
func StartXRDRoles(ctx context.Context, cfg *rest.Config, logf func(string, ...any)) (*XRDRoles, error) {
	dyn, err := dynamic.NewForConfig(cfg)
	if err != nil {
		return nil, err
	}
	kube, err := kubernetes.NewForConfig(cfg)
	if err != nil {
		return nil, err
	}
	xrds := dyn.Resource(CompositeResourceDefinitions)
	lastErr := ""
	c, err := startController(ctx, dyn, CompositeResourceDefinitions, func(ctx context.Context) bool {
		err := applyXRDRoles(ctx, xrds, kube)
		if err != nil && ctx.Err() == nil && err.Error() != lastErr {
			logf("rbac manager stand-in: %v", err)
		}
		lastErr = ""
		if err != nil {
			lastErr = err.Error()
		}
		return err == nil
	})
	if err != nil {
		return nil, err
	}
	return &XRDRoles{controller: c}, nil
}

// Stop stops it.
func (x *XRDRoles) Stop() { x.controller.stop() }

func applyXRDRoles(ctx context.Context, xrds dynamic.ResourceInterface, kube kubernetes.Interface) error {
	list, err := xrds.List(ctx, metav1.ListOptions{})
	if err != nil {
		return fmt.Errorf("cannot list XRDs: %w", err)
	}
	var errs []error
	for i := range list.Items {
		xrd := &list.Items[i]
		if xrd.GetDeletionTimestamp() != nil {
			continue // the role goes with the XRD: it is controlled by it
		}
		if err := applyClusterRole(ctx, kube, xrdSystemRole(xrd)); err != nil {
			errs = append(errs, fmt.Errorf("XRD %s: %w", xrd.GetName(), err))
		}
	}
	return errors.Join(errs...)
}

// xrdSystemRole is RenderClusterRoles' system role.
func xrdSystemRole(xrd *unstructured.Unstructured) *rbacv1.ClusterRole {
	group, _, _ := unstructured.NestedString(xrd.Object, "spec", "group")
	plural, _, _ := unstructured.NestedString(xrd.Object, "spec", "names", "plural")
	role := &rbacv1.ClusterRole{
		ObjectMeta: metav1.ObjectMeta{
			Name:   "crossplane:composite:" + xrd.GetName() + ":aggregate-to-crossplane",
			Labels: map[string]string{aggregateToCrossplane: "true"},
			OwnerReferences: []metav1.OwnerReference{{
				APIVersion: xrd.GetAPIVersion(), Kind: xrd.GetKind(), Name: xrd.GetName(), UID: xrd.GetUID(),
				Controller: ptr.To(true), BlockOwnerDeletion: ptr.To(true),
			}},
		},
		Rules: []rbacv1.PolicyRule{
			{APIGroups: []string{group}, Resources: []string{plural, plural + "/status"}, Verbs: []string{rbacv1.VerbAll}},
			{APIGroups: []string{group}, Resources: []string{plural + "/finalizers"}, Verbs: []string{"update"}},
		},
	}
	if claims, _, _ := unstructured.NestedString(xrd.Object, "spec", "claimNames", "plural"); claims != "" {
		role.Rules = append(role.Rules,
			rbacv1.PolicyRule{APIGroups: []string{group}, Resources: []string{claims, claims + "/status"}, Verbs: []string{rbacv1.VerbAll}},
			rbacv1.PolicyRule{APIGroups: []string{group}, Resources: []string{claims + "/finalizers"}, Verbs: []string{"update"}},
		)
	}
	return role
}

// applyClusterRole creates the role, or updates its rules and labels when they differ.
func applyClusterRole(ctx context.Context, kube kubernetes.Interface, want *rbacv1.ClusterRole) error {
	roles := kube.RbacV1().ClusterRoles()
	have, err := roles.Get(ctx, want.Name, metav1.GetOptions{})
	if apierrors.IsNotFound(err) {
		_, err = roles.Create(ctx, want, metav1.CreateOptions{})
		return err
	}
	if err != nil {
		return err
	}
	if reflect.DeepEqual(have.Rules, want.Rules) && have.Labels[aggregateToCrossplane] == "true" {
		return nil
	}
	have.Rules = want.Rules
	if have.Labels == nil {
		have.Labels = map[string]string{}
	}
	have.Labels[aggregateToCrossplane] = "true"
	_, err = roles.Update(ctx, have, metav1.UpdateOptions{})
	return err
}
