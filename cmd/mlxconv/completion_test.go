package main

import (
	"bytes"
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func testEnv() (*environment, *bytes.Buffer, *bytes.Buffer) {
	var out, errb bytes.Buffer
	return &environment{stdout: &out, stderr: &errb, stdin: strings.NewReader(""), getenv: func(string) string { return "" }}, &out, &errb
}

// Every command and every flag (long and short) of the command table is in
// each shell's script; the table is read from the commands themselves.
func TestCompletionHasEveryCommandAndFlag(t *testing.T) {
	table := commandTable(context.Background())
	flags := map[string][]string{}
	for _, c := range table {
		for _, f := range c.flags {
			flags[c.name] = append(flags[c.name], f.Name)
		}
	}
	assert.Contains(t, flags["convert"], "hf-path")
	assert.Contains(t, flags["convert"], "q-bits")
	assert.Contains(t, flags["gguf"], "outtype")
	assert.Len(t, table, len(commands))
	for _, shell := range []string{"bash", "zsh", "fish"} {
		t.Run(shell, func(t *testing.T) {
			env, out, errb := testEnv()
			require.Equal(t, 0, runMain(context.Background(), env, []string{"completion", shell}), errb.String())
			script := out.String()
			for _, c := range table {
				assert.Contains(t, script, c.name, "command %s", c.name)
				for _, f := range c.flags {
					long := "--" + f.Name
					if shell == "fish" {
						long = "-l " + f.Name
					}
					assert.Contains(t, script, long, "%s %s", c.name, f.Name)
					if f.Shorthand != "" {
						short := "-" + f.Shorthand
						if shell == "fish" {
							short = "-s " + f.Shorthand
						}
						assert.Contains(t, script, short, "%s -%s", c.name, f.Shorthand)
					}
				}
			}
			if path, err := exec.LookPath(shell); err == nil {
				file := filepath.Join(t.TempDir(), "c")
				require.NoError(t, os.WriteFile(file, out.Bytes(), 0o644))
				b, err := exec.Command(path, "-n", file).CombinedOutput()
				require.NoError(t, err, "%s -n: %s", shell, b)
			}
		})
	}
}

// bash: the script completes commands, and a command's flags.
func TestBashCompletionRuns(t *testing.T) {
	bash, err := exec.LookPath("bash")
	if err != nil {
		t.Skip("no bash")
	}
	env, out, _ := testEnv()
	require.Equal(t, 0, runMain(context.Background(), env, []string{"completion", "bash"}))
	file := filepath.Join(t.TempDir(), "c.bash")
	require.NoError(t, os.WriteFile(file, out.Bytes(), 0o644))
	run := func(words ...string) string {
		script := "source " + file + "; COMP_WORDS=(" + strings.Join(words, " ") + "); COMP_CWORD=$((${#COMP_WORDS[@]}-1)); _mlxconv; echo \"${COMPREPLY[*]}\""
		b, err := exec.Command(bash, "-c", script).CombinedOutput()
		require.NoError(t, err, string(b))
		return strings.TrimSpace(string(b))
	}
	assert.Equal(t, "completion convert", run("mlxconv", "co"))
	assert.Equal(t, "--q-bits --q-group-size --q-mode", strings.Join(sortedFields(run("mlxconv", "convert", "--q-")), " "))
	assert.Equal(t, "--outfile --output-tensor-type --outtype", strings.Join(sortedFields(run("mlxconv", "gguf", "--out")), " "))
}

func sortedFields(s string) []string {
	f := strings.Fields(s)
	for i := range f {
		for j := i + 1; j < len(f); j++ {
			if f[j] < f[i] {
				f[i], f[j] = f[j], f[i]
			}
		}
	}
	return f
}

func TestCompletionUsage(t *testing.T) {
	for _, args := range [][]string{{"completion"}, {"completion", "tcsh"}, {"completion", "bash", "zsh"}} {
		env, _, errb := testEnv()
		assert.Equal(t, 2, runMain(context.Background(), env, args), args)
		assert.Contains(t, errb.String(), "bash, zsh or fish")
	}
}

func TestVersionFlag(t *testing.T) {
	for _, flag := range []string{"--version", "-v"} {
		env, out, _ := testEnv()
		require.Equal(t, 0, runMain(context.Background(), env, []string{flag}))
		assert.Equal(t, "mlxconv "+versionString()+" ("+strings.SplitN(out.String(), "(", 2)[1], out.String())
		assert.Equal(t, 1, strings.Count(out.String(), "\n"))
	}
	env, out, _ := testEnv()
	require.Equal(t, 0, runMain(context.Background(), env, []string{"version", "--backend", "native"}))
	assert.True(t, strings.HasPrefix(out.String(), "mlxconv "+versionString()+" ("), out.String())
}
