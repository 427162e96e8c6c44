package main

import (
	"context"
	"fmt"
	"io"
	"runtime"
	"runtime/debug"

	"github.com/mlxconv/mlxconv/mlx"
	"github.com/mlxconv/mlxconv/mlx/mlxbackend"
)

// version may be set at link time (-ldflags "-X main.version=v1.2.3"; what
// ./build.sh does where the Go command cannot stamp the VCS revision, e.g.
// in a git worktree); otherwise the build info gives it.
var version = ""

// versionString is the version every output names (version, --version,
// model cards, the Hub user agent).
func versionString() string {
	bi, ok := debug.ReadBuildInfo()
	return versionFrom(version, bi, ok)
}

// versionFrom picks the version: the link-time one; else the main
// module's version (a release tag for "go install …@v1.2.3", a
// pseudo-version with "+dirty" for a go build of a modified checkout);
// else the VCS revision ("devel-<12 hex digits>", "-dirty" when modified);
// else "devel".
func versionFrom(linked string, bi *debug.BuildInfo, ok bool) string {
	if linked != "" {
		return linked
	}
	if !ok || bi == nil {
		return "devel"
	}
	if v := bi.Main.Version; v != "" && v != "(devel)" {
		return v
	}
	rev, dirty := "", false
	for _, s := range bi.Settings {
		switch s.Key {
		case "vcs.revision":
			rev = s.Value
		case "vcs.modified":
			dirty = s.Value == "true"
		}
	}
	if len(rev) < 12 {
		return "devel"
	}
	v := "devel-" + rev[:12]
	if dirty {
		v += "-dirty"
	}
	return v
}

// writeVersionLine prints "mlxconv VERSION (GO, OS/ARCH)".
func writeVersionLine(w io.Writer) {
	fmt.Fprintf(w, "mlxconv %s (%s, %s/%s)\n", versionString(), runtime.Version(), runtime.GOOS, runtime.GOARCH)
}

func init() {
	register(command{
		name:    "version",
		summary: "print the version and the compute backend mlxconv would use",
		run: func(ctx context.Context, env *environment, args []string) error {
			fs := newFlags(env, "version", "version [--backend auto|mlx|native]")
			backend := fs.String("backend", "auto", "backend to probe: auto, mlx or native")
			if err := parseFlags(fs, args); err != nil {
				return err
			}
			writeVersionLine(env.stdout)
			b, info, err := mlxbackend.Select(mlx.BackendKind(*backend), 0)
			if err != nil {
				return err
			}
			defer b.Close()
			fmt.Fprintf(env.stdout, "backend: %s\n", info)
			return nil
		},
	})
}
