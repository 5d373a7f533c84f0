package metrics

import "github.com/prometheus/client_golang/prometheus"

// Cluster is the state of an instance among the line's instances
// (cluster: in the config). An instance that runs alone reports 1 for
// both.
type Cluster struct {
	// Leader is 1 on the instance that runs the schedulers (reminders and
	// escalations, the mystery call): the one holding the Redis lease.
	Leader prometheus.Gauge
	// QueuesShared is 0 while this instance's queues run on its own copy
	// because Redis is away (a staff member may then be rung by two
	// instances at once).
	QueuesShared prometheus.Gauge
}

// NewCluster builds the cluster's gauges and registers them on reg.
func NewCluster(reg prometheus.Registerer) (*Cluster, error) {
	c := &Cluster{
		Leader: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "clubline_cluster_leader",
			Help: "1 on the instance that runs the line's schedulers (reminders and escalations of messages, the mystery call), 0 on the others: exactly one instance of a line should report 1. An instance alone is always the leader.",
		}),
		QueuesShared: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "clubline_cluster_queues_shared",
			Help: "1 while the queues (who waits, who is rung or busy) are shared with the line's other instances through Redis; 0 while Redis is away and this instance runs its queues alone, when a staff member may be rung by two instances at once. An instance alone reports 1.",
		}),
	}
	for _, col := range []prometheus.Collector{c.Leader, c.QueuesShared} {
		if err := reg.Register(col); err != nil {
			return nil, err
		}
	}
	c.Leader.Set(1)
	c.QueuesShared.Set(1)
	return c, nil
}
