package main

import (
	"context"
	"fmt"
	"runtime"
	"runtime/debug"

	"github.com/mlxconv/mlxconv/mlx"
	"github.com/mlxconv/mlxconv/mlx/mlxbackend"
)

// version is set at link time (-ldflags "-X main.version=v1.2.3"); otherwise
// the module version or VCS revision from the build info is shown.
var version = ""

func versionString() string {
	if version != "" {
		return version
	}
	bi, ok := debug.ReadBuildInfo()
	if !ok {
		return "devel"
	}
	if v := bi.Main.Version; v != "" && v != "(devel)" {
		return v
	}
	for _, s := range bi.Settings {
		if s.Key == "vcs.revision" && len(s.Value) >= 12 {
			return "devel-" + s.Value[:12]
		}
	}
	return "devel"
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
			fmt.Fprintf(env.stdout, "mlxconv %s (%s, %s/%s)\n", versionString(), runtime.Version(), runtime.GOOS, runtime.GOARCH)
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
