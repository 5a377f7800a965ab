package api

import (
	"context"
	"errors"
	"net/http"
	"strconv"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

type serverMetrics struct {
	requests *prometheus.CounterVec
	duration *prometheus.HistogramVec
	inflight prometheus.Gauge
}

func newServerMetrics(reg *prometheus.Registry) (*serverMetrics, error) {
	m := &serverMetrics{
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "trove_api_requests_total",
			Help: "API requests by listener, route pattern and HTTP status.",
		}, []string{"listener", "route", "code"}),
		duration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "trove_api_request_duration_seconds",
			Help:    "Time until the handler returned, including streamed bodies.",
			Buckets: prometheus.ExponentialBuckets(0.001, 4, 10),
		}, []string{"listener", "route"}),
		inflight: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "trove_api_requests_in_flight",
			Help: "API requests currently being served.",
		}),
	}
	var err error
	m.requests = register(reg, m.requests, &err)
	m.duration = register(reg, m.duration, &err)
	m.inflight = register(reg, m.inflight, &err)
	register[prometheus.Collector](reg, collectors.NewGoCollector(), &err)
	register[prometheus.Collector](reg, collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}), &err)
	return m, err
}

// register tolerates a collector that is already there (a node that restarts
// its API server on the same registry) by reusing the existing one.
func register[C prometheus.Collector](reg *prometheus.Registry, c C, errp *error) C {
	if err := reg.Register(c); err != nil {
		var are prometheus.AlreadyRegisteredError
		if errors.As(err, &are) {
			if existing, ok := are.ExistingCollector.(C); ok {
				return existing
			}
			return c
		}
		*errp = errors.Join(*errp, err)
	}
	return c
}

func (m *serverMetrics) handler(reg *prometheus.Registry) http.Handler {
	return promhttp.HandlerFor(reg, promhttp.HandlerOpts{Registry: reg})
}

type ctxKey int

const (
	kindsKey ctxKey = iota
)

// statusWriter records the status for metrics and logs. Unwrap lets
// http.ResponseController reach Flush and EnableFullDuplex underneath.
type statusWriter struct {
	http.ResponseWriter
	status int
}

func (w *statusWriter) WriteHeader(code int) {
	if w.status == 0 {
		w.status = code
	}
	w.ResponseWriter.WriteHeader(code)
}

func (w *statusWriter) Write(p []byte) (int, error) {
	if w.status == 0 {
		w.status = http.StatusOK
	}
	return w.ResponseWriter.Write(p)
}

func (w *statusWriter) Flush() {
	if f, ok := w.ResponseWriter.(http.Flusher); ok {
		f.Flush()
	}
}

func (w *statusWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }

// instrument is the outermost layer. It puts the error registry in the
// request context (for WriteError and friends) and labels metrics with the
// mux pattern rather than the raw path, which keeps label cardinality bounded
// no matter what paths clients send.
func (s *Server) instrument(listener string, next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		start := time.Now()
		s.metrics.inflight.Inc()
		defer s.metrics.inflight.Dec()
		r = r.WithContext(context.WithValue(r.Context(), kindsKey, s.kinds))
		sw := &statusWriter{ResponseWriter: w}
		next.ServeHTTP(sw, r)
		// The mux stores the matched pattern in r.Pattern; the inner layers
		// pass r through unchanged, so it is visible here.
		route := r.Pattern
		if route == "" {
			route = "unmatched"
		}
		if sw.status == 0 {
			sw.status = http.StatusOK
		}
		d := time.Since(start)
		s.metrics.requests.WithLabelValues(listener, route, strconv.Itoa(sw.status)).Inc()
		s.metrics.duration.WithLabelValues(listener, route).Observe(d.Seconds())
		s.log.Debug("api request", "listener", listener, "method", r.Method, "path", r.URL.Path, "status", sw.status, "duration", d)
	})
}

func kindsFrom(ctx context.Context) *Kinds {
	if k, ok := ctx.Value(kindsKey).(*Kinds); ok {
		return k
	}
	return DefaultKinds()
}
