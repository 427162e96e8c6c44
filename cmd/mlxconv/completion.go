package main

import (
	"context"
	"fmt"
	"io"
	"sort"
	"strings"

	"github.com/spf13/pflag"
)

func init() {
	register(command{
		name:    "completion",
		summary: "print a shell completion script: completion bash|zsh|fish",
		run:     runCompletion,
	})
}

const completionSynopsis = `completion bash|zsh|fish

Prints a completion script for the shell, made from the commands and their
flags. Load it with, e.g.:
  bash:  source <(mlxconv completion bash)
  zsh:   mlxconv completion zsh > "${fpath[1]}/_mlxconv"
  fish:  mlxconv completion fish > ~/.config/fish/completions/mlxconv.fish`

// completionShells are the shells completion writes scripts for.
var completionShells = map[string]func(io.Writer, []cmdFlags){
	"bash": writeBashCompletion,
	"zsh":  writeZshCompletion,
	"fish": writeFishCompletion,
}

func runCompletion(ctx context.Context, env *environment, args []string) error {
	fs := newFlags(env, "completion", completionSynopsis)
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	if fs.NArg() != 1 {
		return fmt.Errorf("%w: want one shell: bash, zsh or fish", errUsage)
	}
	write, ok := completionShells[fs.Arg(0)]
	if !ok {
		return fmt.Errorf("%w: shell %q (want bash, zsh or fish)", errUsage, fs.Arg(0))
	}
	write(env.stdout, commandTable(ctx))
	return nil
}

// cmdFlags is one command with its flags.
type cmdFlags struct {
	name, summary string
	flags         []*pflag.Flag
}

// commandTable collects every command's flags by running it with --help
// on a silent environment that captures the flag set newFlags makes (the
// flags are defined where they are parsed, so this table cannot drift).
func commandTable(ctx context.Context) []cmdFlags {
	names := make([]string, 0, len(commands))
	for n := range commands {
		names = append(names, n)
	}
	sort.Strings(names)
	var out []cmdFlags
	for _, n := range names {
		c := cmdFlags{name: n, summary: commands[n].summary}
		var sets []*pflag.FlagSet
		env := &environment{stdout: io.Discard, stderr: io.Discard, stdin: strings.NewReader(""),
			getenv:   func(string) string { return "" },
			flagSink: func(fs *pflag.FlagSet) { sets = append(sets, fs) }}
		_ = commands[n].run(ctx, env, []string{"--help"})
		for _, fs := range sets {
			fs.VisitAll(func(f *pflag.Flag) {
				if !f.Hidden { // deprecated names keep working but are not offered
					c.flags = append(c.flags, f)
				}
			})
		}
		out = append(out, c)
	}
	return out
}

// oneLine is a usage text cut to its first clause, for the menus.
func oneLine(s string) string {
	if i := strings.IndexAny(s, ";(\n"); i > 12 {
		s = s[:i]
	}
	s = strings.TrimSpace(s)
	if len(s) > 70 {
		s = s[:67] + "..."
	}
	return s
}

func takesValue(f *pflag.Flag) bool { return f.NoOptDefVal == "" }

// pathFlag: the flag's value may be a file or folder.
func pathFlag(name string) bool {
	for _, w := range []string{"path", "model", "file", "dir", "rules"} {
		if strings.Contains(name, w) {
			return true
		}
	}
	return false
}

func writeBashCompletion(w io.Writer, cmds []cmdFlags) {
	fmt.Fprintln(w, "# bash completion for mlxconv: source <(mlxconv completion bash)")
	fmt.Fprintln(w, "_mlxconv() {")
	fmt.Fprintln(w, `  local cur="${COMP_WORDS[COMP_CWORD]}" cmd="" i`)
	fmt.Fprintln(w, `  for ((i = 1; i < COMP_CWORD; i++)); do`)
	fmt.Fprintln(w, `    case "${COMP_WORDS[i]}" in -*) ;; *) cmd="${COMP_WORDS[i]}"; break ;; esac`)
	fmt.Fprintln(w, "  done")
	names := make([]string, len(cmds))
	for i, c := range cmds {
		names[i] = c.name
	}
	fmt.Fprintf(w, "  if [[ -z $cmd ]]; then\n    COMPREPLY=($(compgen -W %q -- \"$cur\"))\n    return\n  fi\n",
		strings.Join(names, " ")+" help --help --version -v")
	fmt.Fprintln(w, `  [[ $cur == -* ]] || return 0`)
	fmt.Fprintln(w, `  case "$cmd" in`)
	for _, c := range cmds {
		var words []string
		for _, f := range c.flags {
			words = append(words, "--"+f.Name)
			if f.Shorthand != "" {
				words = append(words, "-"+f.Shorthand)
			}
		}
		words = append(words, "--help")
		fmt.Fprintf(w, "    %s) COMPREPLY=($(compgen -W %q -- \"$cur\")) ;;\n", c.name, strings.Join(words, " "))
	}
	fmt.Fprintln(w, "  esac")
	fmt.Fprintln(w, "}")
	fmt.Fprintln(w, "complete -o default -F _mlxconv mlxconv")
}

// zshQuote escapes s for a single-quoted _arguments spec or _describe item.
func zshQuote(s string) string {
	r := strings.NewReplacer("'", `'\''`, "[", `\[`, "]", `\]`, ":", `\:`)
	return r.Replace(s)
}

func writeZshCompletion(w io.Writer, cmds []cmdFlags) {
	fmt.Fprintln(w, "#compdef mlxconv")
	fmt.Fprintln(w, "# zsh completion for mlxconv: mlxconv completion zsh > \"${fpath[1]}/_mlxconv\"")
	fmt.Fprintln(w, "_mlxconv() {")
	fmt.Fprintln(w, "  local -a commands")
	fmt.Fprintln(w, "  commands=(")
	for _, c := range cmds {
		fmt.Fprintf(w, "    '%s:%s'\n", c.name, zshQuote(oneLine(c.summary)))
	}
	fmt.Fprintln(w, "  )")
	fmt.Fprintln(w, "  if (( CURRENT == 2 )); then")
	fmt.Fprintln(w, "    _describe 'command' commands")
	fmt.Fprintln(w, "    _arguments '--version[print the version]' '-v[print the version]' '--help[list the commands]'")
	fmt.Fprintln(w, "    return")
	fmt.Fprintln(w, "  fi")
	fmt.Fprintln(w, "  local cmd=$words[2]")
	fmt.Fprintln(w, "  shift words")
	fmt.Fprintln(w, "  (( CURRENT-- ))")
	fmt.Fprintln(w, "  case $cmd in")
	for _, c := range cmds {
		fmt.Fprintf(w, "    %s)\n      _arguments \\\n", c.name)
		for _, f := range c.flags {
			val := ""
			if takesValue(f) {
				val = ":" + f.Name + ": " // no completion for a number or a name
				if pathFlag(f.Name) {
					val = ":" + f.Name + ":_files"
				}
			}
			desc := zshQuote(oneLine(f.Usage))
			fmt.Fprintf(w, "        '--%s[%s]%s' \\\n", f.Name, desc, val)
			if f.Shorthand != "" {
				fmt.Fprintf(w, "        '-%s[%s]%s' \\\n", f.Shorthand, desc, val)
			}
		}
		fmt.Fprintln(w, "        '--help[show the flags]' \\")
		fmt.Fprintln(w, "        '*:file:_files'")
		fmt.Fprintln(w, "      ;;")
	}
	fmt.Fprintln(w, "  esac")
	fmt.Fprintln(w, "}")
	fmt.Fprintln(w, `if [[ $zsh_eval_context[-1] == loadautofunc ]]; then _mlxconv "$@"; else compdef _mlxconv mlxconv; fi`)
}

// fishQuote single-quotes s for fish.
func fishQuote(s string) string {
	return "'" + strings.NewReplacer(`\`, `\\`, "'", `\'`).Replace(s) + "'"
}

func writeFishCompletion(w io.Writer, cmds []cmdFlags) {
	fmt.Fprintln(w, "# fish completion for mlxconv: mlxconv completion fish > ~/.config/fish/completions/mlxconv.fish")
	names := make([]string, len(cmds))
	for i, c := range cmds {
		names[i] = c.name
	}
	fmt.Fprintf(w, "complete -c mlxconv -n __fish_use_subcommand -l version -s v -d 'print the version'\n")
	for _, c := range cmds {
		fmt.Fprintf(w, "complete -c mlxconv -f -n __fish_use_subcommand -a %s -d %s\n", c.name, fishQuote(oneLine(c.summary)))
	}
	for _, c := range cmds {
		for _, f := range c.flags {
			line := fmt.Sprintf("complete -c mlxconv -n '__fish_seen_subcommand_from %s' -l %s", c.name, f.Name)
			if f.Shorthand != "" {
				line += " -s " + f.Shorthand
			}
			if takesValue(f) {
				line += " -r"
			}
			fmt.Fprintf(w, "%s -d %s\n", line, fishQuote(oneLine(f.Usage)))
		}
	}
}
