package main

import (
	"runtime/debug"
	"testing"

	"github.com/stretchr/testify/assert"
)

func TestVersionFrom(t *testing.T) {
	rev := "0123456789abcdef0123456789abcdef01234567"
	settings := func(kv ...string) []debug.BuildSetting {
		var s []debug.BuildSetting
		for i := 0; i < len(kv); i += 2 {
			s = append(s, debug.BuildSetting{Key: kv[i], Value: kv[i+1]})
		}
		return s
	}
	cases := []struct {
		name, linked string
		bi           *debug.BuildInfo
		ok           bool
		want         string
	}{
		{"linked wins", "v9.9.9", &debug.BuildInfo{Main: debug.Module{Version: "v1.0.0"}}, true, "v9.9.9"},
		{"no build info", "", nil, false, "devel"},
		{"go install @tag", "", &debug.BuildInfo{Main: debug.Module{Version: "v1.2.3"}}, true, "v1.2.3"},
		{"go build, pseudo-version", "", &debug.BuildInfo{Main: debug.Module{Version: "v0.0.0-20261206083349-bc739913d8ae+dirty"}}, true, "v0.0.0-20261206083349-bc739913d8ae+dirty"},
		{"vcs clean", "", &debug.BuildInfo{Main: debug.Module{Version: "(devel)"}, Settings: settings("vcs.revision", rev, "vcs.modified", "false")}, true, "devel-0123456789ab"},
		{"vcs dirty", "", &debug.BuildInfo{Main: debug.Module{Version: "(devel)"}, Settings: settings("vcs.modified", "true", "vcs.revision", rev)}, true, "devel-0123456789ab-dirty"},
		{"short revision", "", &debug.BuildInfo{Settings: settings("vcs.revision", "abc")}, true, "devel"},
		{"nothing", "", &debug.BuildInfo{Main: debug.Module{Version: "(devel)"}}, true, "devel"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			assert.Equal(t, tc.want, versionFrom(tc.linked, tc.bi, tc.ok))
		})
	}
}
