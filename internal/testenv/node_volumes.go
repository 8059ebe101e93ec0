package testenv

import (
	"context"
	"fmt"
	"os"
	"time"

	corev1 "k8s.io/api/core/v1"
	storagev1 "k8s.io/api/storage/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// NodeStorageClass is the default StorageClass of a real-node environment.
const NodeStorageClass = "local"

// provisionerName is what the StorageClass names as its provisioner: the environment itself.
const provisionerName = "testenv.bkctl.dev/local"

// startProvisioner makes the default StorageClass and, until ctx ends, gives every Pending
// claim a hostPath volume below the run directory, bound to it in advance. A claim's class is
// copied to its volume, so claims of classes that exist nowhere (an example's "fast-ssd") bind
// too. Volumes are kept (Retain) and go with the run directory.
func (e *Env) startProvisioner(ctx, run context.Context) error {
	sc := &storagev1.StorageClass{
		ObjectMeta: metav1.ObjectMeta{
			Name:        NodeStorageClass,
			Annotations: map[string]string{"storageclass.kubernetes.io/is-default-class": "true"},
		},
		Provisioner: provisionerName,
	}
	if _, err := e.clientset.StorageV1().StorageClasses().Create(ctx, sc, metav1.CreateOptions{}); err != nil && !apierrors.IsAlreadyExists(err) {
		return fmt.Errorf("create StorageClass/%s: %w", NodeStorageClass, err)
	}
	go func() {
		for {
			e.provision(run)
			select {
			case <-run.Done():
				return
			case <-time.After(250 * time.Millisecond):
			}
		}
	}()
	return nil
}

func (e *Env) provision(ctx context.Context) {
	claims, err := e.clientset.CoreV1().PersistentVolumeClaims("").List(ctx, metav1.ListOptions{})
	if err != nil {
		return
	}
	for _, c := range claims.Items {
		if c.Spec.VolumeName != "" || c.Status.Phase != corev1.ClaimPending || c.DeletionTimestamp != nil {
			continue
		}
		dir := e.node.path("volumes", string(c.UID))
		if err := os.MkdirAll(dir, 0o755); err != nil {
			continue
		}
		class := ""
		if c.Spec.StorageClassName != nil {
			class = *c.Spec.StorageClassName
		}
		pv := &corev1.PersistentVolume{
			ObjectMeta: metav1.ObjectMeta{Name: "pvc-" + string(c.UID)},
			Spec: corev1.PersistentVolumeSpec{
				Capacity:                      corev1.ResourceList{corev1.ResourceStorage: c.Spec.Resources.Requests[corev1.ResourceStorage]},
				AccessModes:                   c.Spec.AccessModes,
				StorageClassName:              class,
				PersistentVolumeReclaimPolicy: corev1.PersistentVolumeReclaimRetain,
				ClaimRef:                      &corev1.ObjectReference{Kind: "PersistentVolumeClaim", APIVersion: "v1", Namespace: c.Namespace, Name: c.Name, UID: c.UID},
				PersistentVolumeSource: corev1.PersistentVolumeSource{HostPath: &corev1.HostPathVolumeSource{
					Path: dir, Type: new(corev1.HostPathDirectoryOrCreate),
				}},
			},
		}
		_, _ = e.clientset.CoreV1().PersistentVolumes().Create(ctx, pv, metav1.CreateOptions{})
	}
}
