// Command grain analyses individual neurons of NLP models (Dalvi et al.,
// "What is one grain of sand in the desert?", AAAI 2019): probes, neuron
// rankings, ablation, cross-model correlation, on the CPU or a GPU.
//
// Run `grain help` for the commands and `grain COMMAND -h` for each one's
// flags.
package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"sort"
	"strings"

	"github.com/grainlab/grain/engine"
	_ "github.com/grainlab/grain/engine/cpu"  // registers the "cpu" device
	_ "github.com/grainlab/grain/engine/cuda" // registers "cuda" in builds with -tags grain_cuda
	"github.com/grainlab/grain/engine/progress"
)

// command is one subcommand of grain.
type command struct {
	name    string
	summary string
	run     func(c *cli, args []string) error
}

var commands []command

func register(c command) { commands = append(commands, c) }

func main() {
	c := &cli{stdout: os.Stdout, stderr: os.Stderr}
	os.Exit(c.main(os.Args[1:]))
}

// cli holds what every command shares: output streams and common flags.
type cli struct {
	stdout, stderr io.Writer
	device         string
	seed           uint64
	json           bool
	quiet          bool
}

// errUsage marks an error that was already explained with usage text.
var errUsage = errors.New("usage")

func (c *cli) main(args []string) int {
	sort.Slice(commands, func(i, j int) bool { return commands[i].name < commands[j].name })
	if len(args) == 0 || args[0] == "help" || args[0] == "-h" || args[0] == "--help" {
		if len(args) > 1 {
			return c.main([]string{args[1], "-h"})
		}
		c.usage(c.stdout)
		return 0
	}
	for _, cmd := range commands {
		if cmd.name == args[0] {
			err := cmd.run(c, args[1:])
			switch {
			case err == nil:
				return 0
			case errors.Is(err, flag.ErrHelp):
				return 0
			case errors.Is(err, errUsage):
				return 2
			}
			fmt.Fprintf(c.stderr, "grain %s: %v\n", cmd.name, err)
			return 1
		}
	}
	fmt.Fprintf(c.stderr, "grain: unknown command %q\n\n", args[0])
	c.usage(c.stderr)
	return 2
}

func (c *cli) usage(w io.Writer) {
	fmt.Fprint(w, `grain: neuron-level interpretability of NLP models (Dalvi et al., AAAI 2019)

Usage: grain COMMAND [flags]

Commands:
`)
	for _, cmd := range commands {
		fmt.Fprintf(w, "  %-12s %s\n", cmd.name, cmd.summary)
	}
	fmt.Fprint(w, `
Common flags: --device auto|cpu|cuda|cuda:N, --seed N, --json, --quiet.
Run "grain COMMAND -h" for a command's flags.
`)
}

// flags returns a FlagSet for a command with the common flags registered.
func (c *cli) flags(name, usage string) *flag.FlagSet {
	fs := flag.NewFlagSet("grain "+name, flag.ContinueOnError)
	fs.SetOutput(c.stderr)
	fs.StringVar(&c.device, "device", "auto", "compute device: auto, cpu, cuda or cuda:N")
	fs.Uint64Var(&c.seed, "seed", 1, "random seed (weights, splits, batch order, random neurons)")
	fs.BoolVar(&c.json, "json", false, "write machine-readable JSON to stdout instead of tables")
	fs.BoolVar(&c.quiet, "quiet", false, "no progress bars")
	fs.Usage = func() {
		fmt.Fprintf(c.stderr, "Usage: grain %s\n\n", usage)
		fs.PrintDefaults()
	}
	return fs
}

// parse parses flags and rejects stray positional arguments unless
// positional is true.
func (c *cli) parse(fs *flag.FlagSet, args []string, positional bool) error {
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return err
		}
		return errUsage
	}
	if !positional && fs.NArg() > 0 {
		fmt.Fprintf(c.stderr, "grain: unexpected argument %q\n", fs.Arg(0))
		fs.Usage()
		return errUsage
	}
	return nil
}

// backend opens the device named by --device, printing notices to stderr.
func (c *cli) backend() (engine.Backend, error) {
	return engine.Open(c.device, c.stderr)
}

// progress returns the progress reporter for --quiet.
func (c *cli) progress() progress.Reporter {
	if c.quiet {
		return progress.Nop
	}
	return progress.Terminal(c.stderr)
}

// required fails with a usage message when any named flag is empty.
func required(fs *flag.FlagSet, names ...string) error {
	var missing []string
	for _, n := range names {
		if f := fs.Lookup(n); f == nil || f.Value.String() == "" {
			missing = append(missing, "--"+n)
		}
	}
	if len(missing) > 0 {
		fs.Usage()
		return fmt.Errorf("missing %s", strings.Join(missing, ", "))
	}
	return nil
}
