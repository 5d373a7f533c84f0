package config_test

import (
	"errors"
	"strings"
	"testing"

	"github.com/clubline/clubline/config"
)

func TestClusterSection(t *testing.T) {
	if config.Default().Cluster.Enabled {
		t.Error("a line is clustered by default")
	}
	c, err := config.Parse("c.yaml", []byte(head+"store:\n  redis_url: redis://127.0.0.1:6379/0\ncluster:\n  enabled: true\n  instance: b\n"))
	if err != nil {
		t.Fatal(err)
	}
	if !c.Cluster.Enabled || c.Cluster.Instance != "b" || c.Cluster.Line != 5 {
		t.Errorf("cluster: %+v", c.Cluster)
	}
	t.Setenv(config.InstanceEnv, "box-2")
	c, err = config.Parse("c.yaml", []byte(head+"store:\n  redis_url: redis://127.0.0.1:6379/0\ncluster:\n  enabled: true\n"))
	if err != nil {
		t.Fatal(err)
	}
	if c.Cluster.Instance != "box-2" {
		t.Errorf("instance %q, want box-2 from %s", c.Cluster.Instance, config.InstanceEnv)
	}
}

func TestClusterErrors(t *testing.T) {
	for name, tc := range map[string]struct{ yaml, want, msg string }{
		"no redis":    {head + "cluster:\n  enabled: true\n", "4: cluster.enabled", "set store.redis_url"},
		"unknown key": {head + "cluster:\n  instnce: a\n", "4: cluster.instnce", "did you mean instance?"},
	} {
		t.Run(name, func(t *testing.T) {
			_, err := config.Parse("c.yaml", []byte(tc.yaml))
			var errs config.Errors
			if !errors.As(err, &errs) {
				t.Fatalf("err = %v, want config.Errors", err)
			}
			for _, e := range errs {
				if got := e.Error(); strings.Contains(got, tc.want) && strings.Contains(got, tc.msg) {
					return
				}
			}
			t.Errorf("no error %q with %q in:\n%v", tc.want, tc.msg, err)
		})
	}
}
