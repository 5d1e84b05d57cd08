package s3api

import (
	"net/http"
	"strconv"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// metrics are the gateway's Prometheus collectors, served at /metrics.
type metrics struct {
	reg      *prometheus.Registry
	requests *prometheus.CounterVec   // operation, code (HTTP status)
	latency  *prometheus.HistogramVec // operation
	bytesIn  *prometheus.CounterVec   // operation
	bytesOut *prometheus.CounterVec   // operation
	inflight prometheus.Gauge
	degraded prometheus.Counter
	errors   *prometheus.CounterVec // operation, s3 error code
}

func newMetrics(reg *prometheus.Registry) *metrics {
	if reg == nil {
		reg = prometheus.NewRegistry()
		reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	}
	m := &metrics{
		reg: reg,
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: "rhizome", Subsystem: "s3", Name: "requests_total",
			Help: "S3 requests by operation and HTTP status code.",
		}, []string{"operation", "code"}),
		latency: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Namespace: "rhizome", Subsystem: "s3", Name: "request_duration_seconds",
			Help:    "Time from receiving an S3 request to the end of its response, by operation.",
			Buckets: []float64{.001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10, 30, 60, 300},
		}, []string{"operation"}),
		bytesIn: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: "rhizome", Subsystem: "s3", Name: "received_bytes_total",
			Help: "Request body bytes received, by operation.",
		}, []string{"operation"}),
		bytesOut: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: "rhizome", Subsystem: "s3", Name: "sent_bytes_total",
			Help: "Response body bytes sent, by operation.",
		}, []string{"operation"}),
		inflight: prometheus.NewGauge(prometheus.GaugeOpts{
			Namespace: "rhizome", Subsystem: "s3", Name: "requests_in_flight",
			Help: "S3 requests being served.",
		}),
		degraded: prometheus.NewCounter(prometheus.CounterOpts{
			Namespace: "rhizome", Subsystem: "s3", Name: "degraded_reads_total",
			Help: "Object reads that found a shard missing, unreachable or corrupt and used parity.",
		}),
		errors: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: "rhizome", Subsystem: "s3", Name: "errors_total",
			Help: "S3 error responses by operation and S3 error code.",
		}, []string{"operation", "error"}),
	}
	reg.MustRegister(m.requests, m.latency, m.bytesIn, m.bytesOut, m.inflight, m.degraded, m.errors)
	return m
}

// observe records one finished request.
func (m *metrics) observe(op string, status int, errCode string, in, out int64, d time.Duration) {
	m.requests.WithLabelValues(op, strconv.Itoa(status)).Inc()
	m.latency.WithLabelValues(op).Observe(d.Seconds())
	if in > 0 {
		m.bytesIn.WithLabelValues(op).Add(float64(in))
	}
	if out > 0 {
		m.bytesOut.WithLabelValues(op).Add(float64(out))
	}
	if errCode != "" {
		m.errors.WithLabelValues(op, errCode).Inc()
	}
}

func (m *metrics) handler() http.Handler {
	return promhttp.HandlerFor(m.reg, promhttp.HandlerOpts{})
}
