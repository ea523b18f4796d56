package devstack

import (
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

func TestCheckRegions(t *testing.T) {
	for _, tc := range []struct {
		region  string
		regions []string
		wantErr string
	}{
		{"us-east-1", nil, ""},
		{"us-east-1", []string{"us-east-1", "eu-west-1"}, ""},
		{"us-east-1", []string{"eu-west-1", "us-east-1"}, "the first region is the stack's own"},
		{"us-east-1", []string{"us-east-1", "us-east-1"}, "appears twice"},
		{"us-east-1", []string{"us-east-1", "mars"}, "not a region name"},
	} {
		err := Options{Region: tc.region, Regions: tc.regions}.checkRegions()
		if (err == nil) != (tc.wantErr == "") || err != nil && !strings.Contains(err.Error(), tc.wantErr) {
			t.Errorf("checkRegions(%s, %v) = %v, want %q", tc.region, tc.regions, err, tc.wantErr)
		}
	}
}

// TestRegionPorts: the first region keeps the ports of a one-region stack; each
// further region takes its own block from RegionPortBase, its services at their
// usual offsets and its edge on the block's last port, clear of the first region's.
func TestRegionPorts(t *testing.T) {
	o := Options{Regions: []string{"us-east-1", "eu-west-1", "ap-south-1"}}.withDefaults()
	ports := map[string]map[string]int{}
	for i, r := range o.Regions {
		ro := o
		if i > 0 {
			ro = o.inRegion(i)
		}
		ports[r] = map[string]int{}
		for _, svc := range o.Services {
			if i == 0 || regional(svc) {
				ports[r][svc.Name] = svc.Port(ro)
			}
		}
	}
	want := map[string]map[string]int{
		"us-east-1":  {"gateway": 8443, "todo-api": 8081, "blog-api": 8082, "edge": 8444, "app-edge": 8445, "welcome-mailer": 8086, "dynamodb-source": 8087, "thumbnailer": 8088, "s3-source": 8089},
		"eu-west-1":  {"blog-api": 8282, "edge": 8296, "welcome-mailer": 8286, "dynamodb-source": 8287, "thumbnailer": 8288, "s3-source": 8289},
		"ap-south-1": {"blog-api": 8298, "edge": 8312, "welcome-mailer": 8302, "dynamodb-source": 8303, "thumbnailer": 8304, "s3-source": 8305},
	}
	if diff := cmp.Diff(want, ports); diff != "" {
		t.Errorf("ports (-want +got):\n%s", diff)
	}
}
