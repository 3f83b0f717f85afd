package harness

import (
	"context"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"time"

	authenticationv1 "k8s.io/api/authentication/v1"
	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"
	clientcmdapi "k8s.io/client-go/tools/clientcmd/api"
)

// Service accounts of the Crossplane v2.4.0 Helm chart (serviceaccount.yaml,
// rbac-manager-serviceaccount.yaml).
const (
	crossplaneServiceAccount  = "crossplane"
	rbacManagerServiceAccount = "rbac-manager"
	// aggregateToCrossplane is the label the chart's crossplane ClusterRole aggregates: the
	// RBAC manager puts it on each XRD's rules, users on what their compositions need
	// (package/rbac/clusterrole.yaml).
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

// startRBACManager starts `crossplane rbac start` as the rbac-manager service account. It
// writes, among others, each XRD's ClusterRole that aggregates to the core's.
//
// Its controller-runtime metrics server binds :8080 on every interface and has no flag to
// move it; the manager exits when the port is taken. Check first, and say so.
func startRBACManager(ctx context.Context, tools *Tools, procs *Processes, kubeconfig string) error {
	l, err := net.Listen("tcp", ":8080")
	if err != nil {
		return fmt.Errorf("crossplane's RBAC manager always serves metrics on :8080 (no flag moves it), and the port is taken: %w", err)
	}
	_ = l.Close()
	env := append(os.Environ(), "KUBECONFIG="+kubeconfig)
	if err := procs.StartEnv("crossplane-rbac-manager", env, tools.Path("crossplane-core"), "rbac", "start"); err != nil {
		return err
	}
	return procs.waitHTTP(ctx, "crossplane-rbac-manager", "http://127.0.0.1:8080/metrics", nil, 60*time.Second)
}
