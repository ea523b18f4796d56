// Package podmetrics answers the Knative autoscaler's metric scrapes of kwok's
// pods. A revision's pod carries Knative's queue-proxy, which the autoscaler
// scrapes at <pod IP>:9090/metrics for the requests in flight; kwok's pods run
// no containers, so nothing would answer and the autoscaler would never decide
// (it scales only on data). This server, reached at every kwok pod address
// (the cluster's network namespace routes kwok's pod range to itself), answers
// as an idle queue-proxy does: the pod's name and uptime, no requests. The
// decisions — scale to zero after the stable window, the grace period and the
// revision's retention; scale up when the activator reports a request — are the
// real autoscaler's.
package podmetrics

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/tools/cache"
	"knative.dev/networking/pkg/http/header"
	"knative.dev/serving/pkg/autoscaler/metrics"

	"github.com/serverless-architect/serverless-architect/test/cluster/serviceproxy"
)

const podIPIndex = "podIP"

// Serve answers on addr (":9090") until ctx ends.
func Serve(ctx context.Context, kube kubernetes.Interface, addr string, log *slog.Logger) error {
	factory := informers.NewSharedInformerFactory(kube, 0)
	pods := factory.Core().V1().Pods().Informer()
	if err := pods.AddIndexers(cache.Indexers{podIPIndex: func(obj any) ([]string, error) {
		p, ok := obj.(*corev1.Pod)
		if !ok || p.Status.PodIP == "" {
			return nil, nil
		}
		return []string{p.Status.PodIP}, nil
	}}); err != nil {
		return err
	}
	factory.Start(ctx.Done())
	factory.WaitForCacheSync(ctx.Done())

	srv := &http.Server{
		Addr:              addr,
		ReadHeaderTimeout: 5 * time.Second,
		Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if r.URL.Path != "/metrics" {
				http.NotFound(w, r)
				return
			}
			local, _ := r.Context().Value(http.LocalAddrContextKey).(net.Addr)
			ip, _, err := net.SplitHostPort(fmt.Sprint(local))
			if err != nil {
				http.Error(w, "no local address", http.StatusInternalServerError)
				return
			}
			objs, err := pods.GetIndexer().ByIndex(podIPIndex, ip)
			if err != nil || len(objs) == 0 {
				http.Error(w, "no pod has address "+ip, http.StatusNotFound)
				return
			}
			pod := objs[0].(*corev1.Pod)
			stat := metrics.Stat{PodName: pod.Name, Timestamp: time.Now().Unix()}
			if pod.Status.StartTime != nil {
				stat.ProcessUptime = time.Since(pod.Status.StartTime.Time).Seconds()
			}
			body, err := stat.Marshal()
			if err != nil {
				http.Error(w, err.Error(), http.StatusInternalServerError)
				return
			}
			w.Header().Set("Content-Type", header.ProtobufMIMEType)
			_, _ = w.Write(body)
		}),
	}
	// SO_REUSEPORT: the service proxy binds Services' cluster IPs on 9090 too.
	lc := net.ListenConfig{Control: serviceproxy.ReusePort}
	ln, err := lc.Listen(ctx, "tcp", addr)
	if err != nil {
		return err
	}
	go func() {
		<-ctx.Done()
		_ = srv.Close()
	}()
	if err := srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
		log.Error("pod metrics", "err", err)
		return err
	}
	return nil
}
