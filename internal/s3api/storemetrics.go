package s3api

import (
	"context"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/rhizome-data/rhizome/internal/backend/observe"
	"github.com/rhizome-data/rhizome/internal/index"
	"github.com/rhizome-data/rhizome/internal/store"
)

// StoreCollector exports the store's own figures on /metrics: per backend
// calls by outcome, bytes, latency quantiles, error rate and health; the
// store's protection counts (from the index, refreshed at most every 30 s
// since they are counted over every version); and guard alerts.
type StoreCollector struct {
	st     *store.Store
	alerts *prometheus.CounterVec

	mu      sync.Mutex
	statsAt time.Time
	stats   index.Stats

	calls, bytes, latency, errRate, up, versions *prometheus.Desc
}

// NewStoreCollector returns a collector for st. Register it, and pass
// OnAlert to store.Options so guard alerts are counted.
func NewStoreCollector(st *store.Store) *StoreCollector {
	return &StoreCollector{
		st: st,
		alerts: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: "rhizome", Subsystem: "guard", Name: "alerts_total",
			Help: "Writes the guard flagged, by policy mode and signal.",
		}, []string{"mode", "signal"}),
		calls: prometheus.NewDesc("rhizome_backend_calls_total", "Backend calls by operation and outcome.",
			[]string{"backend", "op", "outcome"}, nil),
		bytes: prometheus.NewDesc("rhizome_backend_bytes_total", "Bytes read (get) or written (put) per backend.",
			[]string{"backend", "op"}, nil),
		latency: prometheus.NewDesc("rhizome_backend_latency_seconds", "Recent latency quantiles per backend and operation (get: time to first byte).",
			[]string{"backend", "op", "quantile"}, nil),
		errRate: prometheus.NewDesc("rhizome_backend_error_rate", "Share of recent calls that failed, per backend and operation.",
			[]string{"backend", "op"}, nil),
		up: prometheus.NewDesc("rhizome_backend_up", "1 when the backend answers, 0 when its recent reads stalled or failed.",
			[]string{"backend", "region"}, nil),
		versions: prometheus.NewDesc("rhizome_versions", "Object versions by protection state (from the index: updated by writes, scrub and repair).",
			[]string{"state"}, nil),
	}
}

// OnAlert counts a guard alert; pass it as store.Options.OnAlert.
func (c *StoreCollector) OnAlert(a store.Alert) {
	if len(a.Signals) == 0 {
		c.alerts.WithLabelValues(a.Mode, "unknown").Inc()
	}
	for _, s := range a.Signals {
		c.alerts.WithLabelValues(a.Mode, s.Name).Inc()
	}
}

// Describe implements prometheus.Collector.
func (c *StoreCollector) Describe(ch chan<- *prometheus.Desc) {
	c.alerts.Describe(ch)
	for _, d := range []*prometheus.Desc{c.calls, c.bytes, c.latency, c.errRate, c.up, c.versions} {
		ch <- d
	}
}

// Collect implements prometheus.Collector.
func (c *StoreCollector) Collect(ch chan<- prometheus.Metric) {
	c.alerts.Collect(ch)
	bs := c.st.Backends()
	for i, s := range c.st.BackendStats() {
		name := s.Name
		if name == "" && i < len(bs) {
			name = bs[i].Name
		}
		for op := observe.Op(0); op < observe.NumOps; op++ {
			o := s.Ops[op]
			for out := observe.Outcome(0); out < observe.NumOutcomes; out++ {
				if n := o.Outcomes[out]; n > 0 {
					ch <- prometheus.MustNewConstMetric(c.calls, prometheus.CounterValue, float64(n), name, op.String(), out.String())
				}
			}
			if o.Bytes > 0 {
				ch <- prometheus.MustNewConstMetric(c.bytes, prometheus.CounterValue, float64(o.Bytes), name, op.String())
			}
			if o.RecentCalls > 0 {
				for q, d := range map[string]time.Duration{"0.5": o.P50, "0.95": o.P95, "0.99": o.P99} {
					ch <- prometheus.MustNewConstMetric(c.latency, prometheus.GaugeValue, d.Seconds(), name, op.String(), q)
				}
				ch <- prometheus.MustNewConstMetric(c.errRate, prometheus.GaugeValue, o.ErrorRate(), name, op.String())
			}
		}
		up := 1.0
		if s.Stalled || s.Failing {
			up = 0
		}
		region := ""
		if i < len(bs) {
			region = bs[i].Region
		}
		ch <- prometheus.MustNewConstMetric(c.up, prometheus.GaugeValue, up, name, region)
	}
	st, ok := c.indexStats()
	if !ok {
		return
	}
	cfg := c.st.Config()
	n := cfg.K + cfg.M
	var protected, under, atRisk, unreadable float64
	for shards, count := range st.ByShards {
		switch {
		case shards >= n:
			protected += float64(count)
		case shards > cfg.K:
			under += float64(count)
		case shards == cfg.K:
			atRisk += float64(count)
		default:
			unreadable += float64(count)
		}
	}
	for state, v := range map[string]float64{"protected": protected, "under_protected": under, "at_risk": atRisk, "unreadable": unreadable} {
		ch <- prometheus.MustNewConstMetric(c.versions, prometheus.GaugeValue, v, state)
	}
}

func (c *StoreCollector) indexStats() (index.Stats, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if time.Since(c.statsAt) > 30*time.Second {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		st, err := c.st.Index().Stats(ctx)
		if err != nil {
			return c.stats, !c.statsAt.IsZero()
		}
		c.stats, c.statsAt = st, time.Now()
	}
	return c.stats, true
}
