package node

import (
	"errors"

	"github.com/prometheus/client_golang/prometheus"
)

// daemonMetrics are trove's own counters, registered on the daemon's
// registry next to libp2p's and the API's, so one scrape of
// /debug/metrics/prometheus shows the whole node.
type daemonMetrics struct {
	addedBytes    prometheus.Counter
	addedEntries  prometheus.Counter
	importBlocks  prometheus.Counter
	provides      *prometheus.CounterVec
	findProviders prometheus.Counter
}

func newDaemonMetrics(reg prometheus.Registerer) (*daemonMetrics, error) {
	m := &daemonMetrics{
		addedBytes: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "trove_added_bytes_total",
			Help: "File content bytes imported by add through the daemon.",
		}),
		addedEntries: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "trove_added_entries_total",
			Help: "Files, directories and symlinks imported by add through the daemon.",
		}),
		importBlocks: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "trove_dag_import_blocks_total",
			Help: "Blocks stored by dag import through the daemon.",
		}),
		provides: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "trove_provides_total",
			Help: "DHT announcements started by add, pin and routing provide, by result.",
		}, []string{"result"}),
		findProviders: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "trove_findprovs_total",
			Help: "Provider lookups requested through the API.",
		}),
	}
	var errs []error
	for _, c := range []prometheus.Collector{m.addedBytes, m.addedEntries, m.importBlocks, m.provides, m.findProviders} {
		errs = append(errs, reg.Register(c))
	}
	return m, errors.Join(errs...)
}

// The recording methods do nothing on a nil *daemonMetrics, which is an
// offline node's: it has no registry to report to.

func (m *daemonMetrics) added(r AddResult) {
	if m == nil {
		return
	}
	m.addedEntries.Add(float64(len(r.Entries)))
	var b uint64
	for _, e := range r.Entries {
		b += e.Size
	}
	m.addedBytes.Add(float64(b))
}

func (m *daemonMetrics) imported(r DagImportResult) {
	if m == nil {
		return
	}
	m.importBlocks.Add(float64(r.Blocks))
}

func (m *daemonMetrics) provided(err error) {
	if err != nil {
		m.provides.WithLabelValues("error").Inc()
		return
	}
	m.provides.WithLabelValues("ok").Inc()
}
