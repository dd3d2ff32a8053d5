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
	"math"
	"os"
	"os/signal"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"

	"github.com/grainlab/grain/engine"
	"github.com/grainlab/grain/engine/atomicfile"
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
	handleInterrupts(os.Stderr)
	c := &cli{stdout: os.Stdout, stderr: os.Stderr}
	os.Exit(c.main(os.Args[1:]))
}

// onInterrupt, when set, is how the running command stops gracefully on
// SIGINT or SIGTERM (train checkpoints); it is used for one signal only.
// The command then returns an error wrapping errInterrupted.
var onInterrupt atomic.Pointer[func()]

// exitInterrupted is the exit status of a command stopped by SIGINT or
// SIGTERM: at once by handleInterrupts, or after stopping gracefully.
const exitInterrupted = 130

// errInterrupted, wrapped in a command's error, says that the command
// stopped gracefully on an interrupt (onInterrupt); cli.main prints the
// error like any other and returns exitInterrupted instead of 1.
var errInterrupted = errors.New("interrupted")

// scratchDirs holds the running command's scratch directories (scratchDir).
var scratchDirs sync.Map // path → struct{}

// scratchDir makes a temporary directory for the running command; the
// returned function removes it, and so does an interrupt.
func scratchDir(pattern string) (string, func(), error) {
	dir, err := os.MkdirTemp("", pattern)
	if err != nil {
		return "", nil, err
	}
	scratchDirs.Store(dir, struct{}{})
	return dir, func() {
		os.RemoveAll(dir)
		scratchDirs.Delete(dir)
	}, nil
}

// handleInterrupts routes SIGINT and SIGTERM (those not ignored, as the
// shell ignores them for background jobs): to onInterrupt when a command
// set it, otherwise (and on a second signal) it removes the temporary files
// of unfinished outputs (atomicfile.AbortPending) and the scratch
// directories, and exits with exitInterrupted, so a stopped command leaves
// neither a partial output nor its temporary files.
func handleInterrupts(stderr io.Writer) {
	var watch []os.Signal
	for _, s := range []os.Signal{os.Interrupt, syscall.SIGTERM} {
		if !signal.Ignored(s) {
			watch = append(watch, s)
		}
	}
	if len(watch) == 0 {
		return
	}
	sig := make(chan os.Signal, 1)
	signal.Notify(sig, watch...)
	go func() {
		for s := range sig {
			if stop := onInterrupt.Swap(nil); stop != nil {
				(*stop)()
				continue
			}
			atomicfile.AbortPending()
			scratchDirs.Range(func(dir, _ any) bool {
				os.RemoveAll(dir.(string))
				return true
			})
			fmt.Fprintf(stderr, "\ngrain: %v: stopped; unfinished output files removed\n", s)
			os.Exit(exitInterrupted)
		}
	}()
}

// cli holds what every command shares: output streams, common flags and
// the opened device.
type cli struct {
	stdout, stderr io.Writer
	device         string
	seed           uint64
	json           bool
	quiet          bool
	// opened is the backend of --device once a command has opened it.
	opened engine.Backend
}

// Common flags a command takes besides --json and --quiet, which every
// command takes.
const (
	withDevice = 1 << iota // --device: the command computes on a backend
	withSeed               // --seed: the command draws random numbers
)

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
			if errors.Is(err, errInterrupted) {
				return exitInterrupted
			}
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
Common flags: --json, --quiet; --device auto|cpu|cuda|cuda:N on the commands that
compute on a device, --seed N on those that draw random numbers.
Run "grain COMMAND -h" for a command's flags.
`)
}

// flags returns a FlagSet for a command with --json, --quiet and the common
// flags named by with (withDevice, withSeed) registered.
func (c *cli) flags(name, usage string, with int) *flag.FlagSet {
	fs := flag.NewFlagSet("grain "+name, flag.ContinueOnError)
	fs.SetOutput(c.stderr)
	c.device, c.seed = "auto", 1
	if with&withDevice != 0 {
		fs.StringVar(&c.device, "device", "auto", "compute device: auto, cpu, cuda or cuda:N")
	}
	if with&withSeed != 0 {
		fs.Uint64Var(&c.seed, "seed", 1, "random seed (weights, splits, batch order, random neurons)")
	}
	fs.BoolVar(&c.json, "json", false, "write machine-readable JSON to stdout instead of tables")
	fs.BoolVar(&c.quiet, "quiet", false, "no progress bars")
	fs.Usage = func() {
		fmt.Fprintf(c.stderr, "Usage: grain %s\n\n", usage)
		fs.PrintDefaults()
	}
	return fs
}

// parse parses flags, which may come before, between or after positional
// arguments (up to a "--", after which everything is positional), and
// rejects positional arguments unless positional is true; fs.Args() then
// holds the positional arguments in order. --device is checked here, so a
// bad device fails before any work.
func (c *cli) parse(fs *flag.FlagSet, args []string, positional bool) error {
	var pos []string
	for {
		if err := fs.Parse(args); err != nil {
			if errors.Is(err, flag.ErrHelp) {
				return err
			}
			return errUsage
		}
		rest := fs.Args()
		if len(rest) == 0 {
			break
		}
		if stoppedAtDashDash(fs, args, len(args)-len(rest)) {
			pos = append(pos, rest...)
			break
		}
		pos, args = append(pos, rest[0]), rest[1:]
	}
	if !positional && len(pos) > 0 {
		fmt.Fprintf(c.stderr, "grain: unexpected argument %q\n", pos[0])
		fs.Usage()
		return errUsage
	}
	// Leave the positional arguments in fs.Args().
	if err := fs.Parse(append([]string{"--"}, pos...)); err != nil {
		return errUsage
	}
	if _, _, err := engine.ParseDevice(c.device); err != nil || strings.TrimSpace(c.device) == "" {
		if err == nil {
			err = errors.New("empty (want auto, cpu, cuda or cuda:N)")
		}
		return fmt.Errorf("--device: %w", err)
	}
	return checkNumbers(fs)
}

// stoppedAtDashDash reports whether fs.Parse(args), having consumed
// args[:n], stopped at a "--" terminator rather than at a positional
// argument: it walks the flags and their values, so a "--" that is a
// flag's value (--out --) is not taken for the terminator.
func stoppedAtDashDash(fs *flag.FlagSet, args []string, n int) bool {
	for i := 0; i < n; i++ {
		if args[i] == "--" {
			return i == n-1
		}
		if takesNextArg(fs, args[i]) {
			i++
		}
	}
	return false
}

// takesNextArg reports whether arg is a flag of fs whose value is the
// next argument: "-name" or "--name" without "=", not a boolean flag.
func takesNextArg(fs *flag.FlagSet, arg string) bool {
	name := strings.TrimPrefix(strings.TrimPrefix(arg, "-"), "-")
	if name == arg || name == "" || strings.Contains(name, "=") {
		return false
	}
	f := fs.Lookup(name)
	if f == nil {
		return false
	}
	b, ok := f.Value.(interface{ IsBoolFlag() bool })
	return !ok || !b.IsBoolFlag()
}

// checkNumbers rejects a number flag given a negative, NaN or infinite
// value: none of grain's means one (0 is the "default" or "none" where a
// flag has one), so such a value is a mistake, not a request for a default.
func checkNumbers(fs *flag.FlagSet) error {
	var err error
	fs.Visit(func(f *flag.Flag) {
		g, ok := f.Value.(flag.Getter)
		if !ok || err != nil {
			return
		}
		switch v := g.Get().(type) {
		case float64:
			if math.IsNaN(v) || math.IsInf(v, 0) || v < 0 {
				err = fmt.Errorf("--%s %s: want a finite number ≥ 0", f.Name, f.Value)
			}
		case int:
			if v < 0 {
				err = fmt.Errorf("--%s %d: want a number ≥ 0", f.Name, v)
			}
		}
	})
	return err
}

// backend opens the device named by --device, printing notices to stderr;
// later calls return the same backend.
func (c *cli) backend() (engine.Backend, error) {
	if c.opened == nil {
		b, err := engine.Open(c.device, c.stderr)
		if err != nil {
			return nil, err
		}
		c.opened = b
	}
	return c.opened, nil
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
