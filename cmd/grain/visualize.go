package main

import (
	"errors"
	"flag"
	"fmt"
	"strconv"
	"strings"

	"github.com/grainlab/grain/analysis/activations"
	"github.com/grainlab/grain/analysis/ranking"
	"github.com/grainlab/grain/analysis/topwords"
)

func init() {
	register(command{"visualize", "what single neurons respond to: their top words (NeuroX's get_top_words) and their activations drawn over sentences", runVisualize})
}

// neuronView is one neuron's top words and, when a plot is asked for, its
// activations over the plotted sentences.
type neuronView struct {
	Neuron int    `json:"neuron"`
	Name   string `json:"name"`
	*topwords.Result
	// Activations holds the neuron's activation on each token of the
	// plotted sentences.
	Activations [][]float32 `json:"activations,omitempty"`
}

// visualization is what grain visualize reports.
type visualization struct {
	Acts      string       `json:"acts"`
	Tokens    int          `json:"tokens"`
	Neurons   []neuronView `json:"neurons"`
	Plotted   []int        `json:"plotted_sentences,omitempty"`
	Sentences [][]string   `json:"sentence_tokens,omitempty"`
}

func runVisualize(c *cli, args []string) error {
	fs := c.flags("visualize", "visualize --acts A.gact (--neurons 27,630 | --ranking R.json [--top 3]) [--words 10] [--plot F.svg --sentences 0-4] [flags]", 0)
	acts := fs.String("acts", "", "grain activation file")
	neuronList := fs.String("neurons", "", "comma-separated global neuron indices (layer·D + d)")
	rankPath := fs.String("ranking", "", "take the neurons from this ranking file's ordering instead")
	top := fs.Int("top", 3, "with --ranking: how many of its first neurons")
	words := fs.Int("words", 10, "top words listed per neuron (0: all above --min-score)")
	minScore := fs.Float64("min-score", topwords.DefaultMinScore, "list words whose score exceeds this (NeuroX's min_threshold), in [0, 1)")
	minCount := fs.Int("min-count", 1, "list words seen at least this many times (1: all, as NeuroX)")
	plotPath := fs.String("plot", "", "draw the neurons' activations over --sentences to this .png/.svg/.pdf (blue above 0, red below)")
	sentenceList := fs.String("sentences", "0-4", "with --plot: sentences to draw, e.g. 0-4,17 (0-based)")
	if err := c.parse(fs, args, false); err != nil {
		return err
	}
	if err := required(fs, "acts"); err != nil {
		return err
	}
	if (*neuronList == "") == (*rankPath == "") {
		return errors.New("give the neurons by --neurons or by --ranking (one of them)")
	}
	given := map[string]bool{}
	fs.Visit(func(f *flag.Flag) { given[f.Name] = true })
	if given["top"] && *rankPath == "" {
		return errors.New("--top picks the first neurons of --ranking; with --neurons it has nothing to pick from")
	}
	if given["sentences"] && *plotPath == "" {
		return errors.New("--sentences chooses what --plot draws; give --plot F.png|svg|pdf")
	}
	if *minScore >= 1 {
		return fmt.Errorf("--min-score %g: want a number in [0, 1)", *minScore)
	}
	if err := checkPlot(fs, *plotPath); err != nil {
		return err
	}
	r, err := activations.Open(*acts)
	if err != nil {
		return err
	}
	defer r.Close()
	neurons, err := chooseNeurons(c, *neuronList, *rankPath, *top, r)
	if err != nil {
		return err
	}
	v := visualization{Acts: *acts, Tokens: r.NumTokens()}
	var plot *activationPlot
	if *plotPath != "" {
		if v.Plotted, err = parseIndexList("--sentences", *sentenceList, r.NumSentences()); err != nil {
			return fmt.Errorf("%w (%s has %d sentences)", err, *acts, r.NumSentences())
		}
		for _, i := range v.Plotted {
			v.Sentences = append(v.Sentences, r.Tokens(i))
		}
		if plot, err = newActivationPlot(v.Sentences, len(neurons)); err != nil {
			return err
		}
	}
	columns, tokens, err := readColumns(c, r, neurons)
	if err != nil {
		return err
	}
	opt := topwords.Options{Limit: *words, MinScore: *minScore, MinCount: *minCount}
	for j, n := range neurons {
		res, err := topwords.Of(tokens, columns[j], opt)
		if err != nil && !errors.Is(err, topwords.ErrConstant) { // a constant neuron is reported as such
			return fmt.Errorf("%s: neuron %d: %w", *acts, n, err)
		}
		nv := neuronView{Neuron: n, Name: r.Meta().NeuronName(n), Result: res}
		for _, i := range v.Plotted {
			start, end := r.SentenceRange(i)
			nv.Activations = append(nv.Activations, columns[j][start:end])
		}
		v.Neurons = append(v.Neurons, nv)
	}
	if plot != nil {
		if err := plot.draw(&v, *plotPath); err != nil {
			return err
		}
	}
	if c.json {
		return writeJSON(c.stdout, v)
	}
	fmt.Fprintf(c.stdout, "%s: %d tokens, %d sentences, %d neurons\n", *acts, r.NumTokens(), r.NumSentences(), r.NumNeurons())
	for _, nv := range v.Neurons {
		if nv.SD == 0 {
			fmt.Fprintf(c.stdout, "\nneuron %d (%s): %g on every token (no word accounts for a variance)\n", nv.Neuron, nv.Name, nv.Min)
			continue
		}
		fmt.Fprintf(c.stdout, "\nneuron %d (%s): mean %.4f, sd %.4f, range [%.4f, %.4f]; %d of %d word types listed\n",
			nv.Neuron, nv.Name, nv.Mean, nv.SD, nv.Min, nv.Max, len(nv.Words), nv.Types)
		t := newTable(c.stdout, "word", "score", "mean activation", "count")
		for _, w := range nv.Words {
			t.row(w.Word, w.Score, w.Mean, w.Count)
		}
		t.flush()
	}
	if *plotPath != "" {
		fmt.Fprintf(c.stdout, "\nwrote %s (sentences %s)\n", *plotPath, intList(v.Plotted, 20))
	}
	return nil
}

// chooseNeurons returns the neurons named by list, or else the first top of
// the ranking file at rankPath; all must be neurons of the activation file
// r (a ranking of another model's activations draws a warning).
func chooseNeurons(c *cli, list, rankPath string, top int, r *activations.Reader) ([]int, error) {
	n := r.NumNeurons()
	if list != "" {
		return parseIndexList("--neurons", list, n)
	}
	f, err := readRanked(rankPath)
	if err != nil {
		return nil, err
	}
	warnOtherModel(c, rankPath, f, r.Meta().Model)
	if !f.Fits(n) {
		return nil, fmt.Errorf("%s ranks %s, the activation file has %d", rankPath, describeRecorded(f.Columns, f.NumNeurons), n)
	}
	if top < 1 {
		return nil, fmt.Errorf("--top %d: want at least 1", top)
	}
	if len(f.Ordering) < top {
		return nil, fmt.Errorf("--top %d: %s lists only %d neurons", top, rankPath, len(f.Ordering))
	}
	return ranking.GlobalNeurons(f.Columns, f.Ordering[:top]), nil
}

// parseIndexList parses comma-separated indices and ranges ("0-4,17") in
// [0, n), each at most once, in the order given; errors name flagName.
func parseIndexList(flagName, s string, n int) ([]int, error) {
	var out []int
	seen := map[int]bool{}
	for _, part := range strings.Split(s, ",") {
		part = strings.TrimSpace(part)
		lo, hi, isRange := strings.Cut(part, "-")
		a, err1 := strconv.Atoi(lo)
		b, err2 := a, error(nil)
		if isRange {
			b, err2 = strconv.Atoi(hi)
		}
		if err1 != nil || err2 != nil || a > b {
			return nil, fmt.Errorf("%s %q: bad entry %q (want indices or ranges like 0-4, comma-separated)", flagName, s, part)
		}
		if a < 0 || b >= n {
			return nil, fmt.Errorf("%s %q: %q is outside [0, %d)", flagName, s, part, n)
		}
		for i := a; i <= b; i++ {
			if seen[i] {
				return nil, fmt.Errorf("%s %q: %d is listed twice", flagName, s, i)
			}
			seen[i] = true
			out = append(out, i)
		}
	}
	return out, nil
}

// readColumns reads the activations of neurons over every token of r
// (columns[j][t] is neuron neurons[j] on token t) and the tokens' text.
func readColumns(c *cli, r *activations.Reader, neurons []int) ([][]float32, []string, error) {
	rows := r.NumTokens()
	columns := make([][]float32, len(neurons))
	for j := range columns {
		columns[j] = make([]float32, rows)
	}
	bar := c.progress().Start("reading "+r.Path(), int64(rows))
	defer bar.Finish()
	const block = 1 << 14
	err := r.BlocksColumns(block, neurons, func(start, n int, vals []float32) error {
		for i := range n {
			for j := range neurons {
				columns[j][start+i] = vals[i*len(neurons)+j]
			}
		}
		bar.Add(int64(n))
		return nil
	})
	if err != nil {
		return nil, nil, err
	}
	tokens := make([]string, rows)
	for t := range tokens {
		tokens[t] = r.Token(t)
	}
	return columns, tokens, nil
}
