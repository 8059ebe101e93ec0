package apply

import (
	apierrors "k8s.io/apimachinery/pkg/api/errors"
)

// What bkctl needs each right for: the hint of a refused request (see clusterErr). The verbs and
// resources are those of deploy/rbac.yaml, which tests prove one by one.
const (
	needInventory   = "bkctl needs get on configmaps to read its inventory"
	needList        = "bkctl needs list on every kind its inventory records, to find the members"
	needDryRun      = "bkctl plans by server-side apply dry-runs: patch on every kind it renders, and create where the object does not exist yet"
	needGet         = "bkctl needs get to read an object that exists but is not a member yet"
	needApply       = "bkctl applies with server-side apply: patch on every kind it renders, and create where the object does not exist yet"
	needRecord      = "bkctl needs patch, and create the first time, on configmaps to record its inventory"
	needDropRecord  = "bkctl needs delete on configmaps to remove its inventory"
	needPrune       = "bkctl needs get and delete on every kind it prunes"
	needListClaims  = "bkctl needs list on persistentvolumeclaims to report the claims of a pruned StatefulSet"
	needPruneClaims = "--prune-pvcs needs delete on persistentvolumeclaims"
	needWait        = "bkctl needs list and watch on deployments, statefulsets and pods to wait for rollouts (--wait=false skips the wait)"
)

// refused reports whether the API server refused a request for the caller's rights or
// credentials rather than for what was asked. A wait ends on such a refusal at once: a watch it
// may not open would otherwise look like a rollout that takes until the timeout.
func refused(err error) bool {
	return apierrors.IsForbidden(err) || apierrors.IsUnauthorized(err)
}
