package main

// The kubelet-serving CSR approver: a controller that a cluster administrator
// runs (here in testenv, as `up` starts it, or alone as
// `testenv kubelet-serving-approver --kubeconfig FILE`). It watches the CSRs of
// the signer kubernetes.io/kubelet-serving and approves or denies each one by
// the policy in csrreview.go; kube-controller-manager's signer then issues the
// approved ones with the cluster CA (--cluster-signing-cert-file).
// It runs as its own user with only the permissions of
// kubelet-serving-approver.yaml, never as admin.

import (
	"context"
	_ "embed"
	"errors"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	certv1 "k8s.io/api/certificates/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	certclient "k8s.io/client-go/kubernetes/typed/certificates/v1"
	coreclient "k8s.io/client-go/kubernetes/typed/core/v1"
	"k8s.io/client-go/tools/cache"
	"k8s.io/client-go/tools/clientcmd"
	"k8s.io/client-go/util/workqueue"
)

//go:embed kubelet-serving-approver.yaml
var approverManifest string

const approverUser = "picokubelet:kubelet-serving-approver"

// approverClient is what the approver talks to: only the typed clients of the
// two API groups it uses (the full clientset and informer factory would link
// every API group into testenv).
type approverClient struct {
	certs certclient.CertificatesV1Interface
	core  coreclient.CoreV1Interface
}

type approver struct {
	client approverClient
	store  cache.Store
	queue  workqueue.TypedRateLimitingInterface[string]
}

// runApprover watches kubelet-serving CSRs until ctx ends.
func runApprover(ctx context.Context, client approverClient) error {
	lw := cache.NewFilteredListWatchFromClient(client.certs.RESTClient(), "certificatesigningrequests", metav1.NamespaceAll,
		func(o *metav1.ListOptions) { o.FieldSelector = "spec.signerName=" + kubeletServingSigner })
	// Pending CSRs (Node not there yet) are looked at again on each resync as well as on backoff.
	inf := cache.NewSharedIndexInformer(lw, &certv1.CertificateSigningRequest{}, 30*time.Second, cache.Indexers{})
	a := &approver{
		client: client,
		store:  inf.GetStore(),
		queue: workqueue.NewTypedRateLimitingQueue(workqueue.NewTypedItemExponentialFailureRateLimiter[string](
			500*time.Millisecond, 10*time.Second)),
	}
	defer a.queue.ShutDown()
	enqueue := func(obj any) {
		if csr, ok := obj.(*certv1.CertificateSigningRequest); ok && !decided(csr) {
			a.queue.Add(csr.Name)
		}
	}
	if _, err := inf.AddEventHandler(cache.ResourceEventHandlerFuncs{
		AddFunc:    enqueue,
		UpdateFunc: func(_, obj any) { enqueue(obj) },
	}); err != nil {
		return err
	}
	go inf.Run(ctx.Done())
	if !cache.WaitForCacheSync(ctx.Done(), inf.HasSynced) {
		return errors.New("kubelet-serving approver: CSR cache did not sync")
	}
	logf("kubelet-serving approver: watching CSRs of %s", kubeletServingSigner)
	go func() {
		<-ctx.Done()
		a.queue.ShutDown()
	}()
	for {
		name, quit := a.queue.Get()
		if quit {
			return nil
		}
		requeue, err := a.handle(ctx, name)
		switch {
		case err != nil:
			logf("kubelet-serving approver: CSR %s: %v (retrying)", name, err)
			a.queue.AddRateLimited(name)
		case requeue:
			a.queue.AddRateLimited(name)
		default:
			a.queue.Forget(name)
		}
		a.queue.Done(name)
	}
}

func decided(csr *certv1.CertificateSigningRequest) bool {
	for _, c := range csr.Status.Conditions {
		if c.Type == certv1.CertificateApproved || c.Type == certv1.CertificateDenied || c.Type == certv1.CertificateFailed {
			return true
		}
	}
	return false
}

// handle reviews one CSR; requeue is true while it cannot be decided yet.
func (a *approver) handle(ctx context.Context, name string) (requeue bool, err error) {
	obj, exists, err := a.store.GetByKey(name)
	if err != nil {
		return false, err
	}
	if !exists {
		return false, nil
	}
	csr := obj.(*certv1.CertificateSigningRequest)
	if decided(csr) || csr.Spec.SignerName != kubeletServingSigner {
		return false, nil
	}
	var r review
	nodeName, bad := requesterNode(csr)
	if bad != nil {
		r = *bad
	} else {
		node, err := a.client.core.Nodes().Get(ctx, nodeName, metav1.GetOptions{})
		switch {
		case apierrors.IsNotFound(err):
			node = nil
		case err != nil:
			return false, err
		}
		r = reviewKubeletServing(csr, nodeName, node)
	}
	if r.verdict == verdictPending {
		return true, nil
	}
	cond := certv1.CertificateSigningRequestCondition{
		Type: certv1.CertificateApproved, Status: corev1.ConditionTrue, Reason: r.reason, Message: r.message,
		LastUpdateTime: metav1.Now(),
	}
	if r.verdict == verdictDeny {
		cond.Type = certv1.CertificateDenied
	}
	csr = csr.DeepCopy()
	csr.Status.Conditions = append(csr.Status.Conditions, cond)
	if _, err := a.client.certs.CertificateSigningRequests().UpdateApproval(ctx, name, csr, metav1.UpdateOptions{}); err != nil {
		if apierrors.IsConflict(err) {
			return true, nil // changed meanwhile: the update event brings it back
		}
		return false, err
	}
	logf("kubelet-serving approver: %s CSR %s of %s: %s: %s", strings.ToLower(string(cond.Type)), name, csr.Spec.Username, r.reason, r.message)
	return false, nil
}

func clientFromKubeconfig(path string) (approverClient, error) {
	var c approverClient
	cfg, err := clientcmd.BuildConfigFromFlags("", path)
	if err != nil {
		return c, err
	}
	cfg.UserAgent = "picokubelet-kubelet-serving-approver"
	if c.certs, err = certclient.NewForConfig(cfg); err != nil {
		return c, err
	}
	c.core, err = coreclient.NewForConfig(cfg)
	return c, err
}

// cmdKubeletServingApprover runs the approver alone until SIGTERM/SIGINT.
func cmdKubeletServingApprover(args []string) int {
	fs := flag.NewFlagSet("kubelet-serving-approver", flag.ContinueOnError)
	kc := fs.String("kubeconfig", "", "kubeconfig of a user with the permissions of kubelet-serving-approver.yaml")
	if err := fs.Parse(args); err != nil {
		return 2
	}
	if *kc == "" || fs.NArg() > 0 {
		fmt.Fprintln(os.Stderr, "usage: testenv kubelet-serving-approver --kubeconfig FILE")
		return 2
	}
	client, err := clientFromKubeconfig(*kc)
	if err != nil {
		logf("%v", err)
		return 1
	}
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, syscall.SIGINT)
	defer stop()
	if err := runApprover(ctx, client); err != nil {
		logf("%v", err)
		return 1
	}
	return 0
}

// startApprover gives the approver its identity and RBAC and runs it in testenv
// until shutdown. It does not wait for anything: the informer syncs on its own.
func (e *env) startApprover() error {
	ca, caKey, err := loadCA(e.pki)
	if err != nil {
		return err
	}
	crt, key := filepath.Join(e.pki.dir, "kubelet-serving-approver.crt"), filepath.Join(e.pki.dir, "kubelet-serving-approver.key")
	if err := ensureLeaf("kubelet-serving approver client", crt, key, clientCertTemplate(approverUser), ca, caKey); err != nil {
		return err
	}
	kc := filepath.Join(e.pki.dir, "kubelet-serving-approver.kubeconfig")
	if err := e.clientKubeconfig(kc, approverUser, crt, key); err != nil {
		return err
	}
	if err := e.applyManifest("kubelet-serving approver RBAC", strings.ReplaceAll(approverManifest, "@USER@", approverUser)); err != nil {
		return err
	}
	client, err := clientFromKubeconfig(kc)
	if err != nil {
		return err
	}
	ctx, cancel := context.WithCancel(context.Background())
	e.stopApprover = cancel
	go func() {
		for ctx.Err() == nil {
			if err := runApprover(ctx, client); err != nil {
				logf("%v; restarting in 5s", err)
			}
			select {
			case <-ctx.Done():
			case <-time.After(5 * time.Second):
			}
		}
	}()
	return nil
}
