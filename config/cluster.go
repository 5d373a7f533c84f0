package config

import (
	"os"

	"go.yaml.in/yaml/v3"
)

// Cluster is the cluster section: several instances of the line behind a
// SIP proxy (deploy/kamailio, docs/scale.md), sharing the queues, who is
// rung or busy, and the schedulers through the Redis store.
type Cluster struct {
	Line    int  // the section's line in the file; 0 when absent
	Enabled bool // off: the instance runs alone, its queues in the process
	// Instance names this instance among the line's: cluster.instance,
	// else $CLUBLINE_INSTANCE, else the host name. The instances share
	// one config file, so the name usually comes from the environment.
	Instance string
}

// InstanceEnv names the variable that gives an instance its name.
const InstanceEnv = "CLUBLINE_INSTANCE"

func init() {
	schema[""] = append(schema[""], "cluster")
	schema["cluster"] = []string{"enabled", "instance"}
}

func (d *decoder) cluster(k, n *yaml.Node, c *Cluster) {
	c.Line = k.Line
	var enabled *yaml.Node
	d.fields(n, "cluster", "cluster", func(key string, _, v *yaml.Node) {
		path := "cluster." + key
		switch key {
		case "enabled":
			enabled = v
			if b, ok := d.boolean(v, path); ok {
				c.Enabled = b
			}
		case "instance":
			d.str(v, path, &c.Instance)
		}
	})
	if c.Instance == "" {
		c.Instance = os.Getenv(InstanceEnv)
	}
	if c.Instance == "" {
		c.Instance, _ = os.Hostname()
	}
	d.clusterNode = enabled
}

// checkCluster: the instances share their state through Redis.
func (d *decoder) checkCluster(c *Config) {
	if !c.Cluster.Enabled {
		return
	}
	if c.Store.RedisURL == "" {
		d.add(d.clusterNode, "cluster.enabled", "the instances of a cluster share their state through Redis, and store.redis_url is empty",
			"set store.redis_url (the same Redis for every instance), or write enabled: false")
	}
	if c.Cluster.Instance == "" {
		d.add(d.clusterNode, "cluster.instance", "this instance has no name (no host name either)",
			"write instance: a, or set "+InstanceEnv)
	}
}
