package main

import (
	"fmt"
	"image/color"
	"io"
	"math"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"time"

	"codeberg.org/go-pdf/fpdf"

	"github.com/grainlab/grain/analysis/ablation"
	"github.com/grainlab/grain/analysis/crosscorr"
	"github.com/grainlab/grain/analysis/gridsearch"
	"github.com/grainlab/grain/analysis/ranking"
	"github.com/grainlab/grain/engine/atomicfile"
	"gonum.org/v1/plot"
	"gonum.org/v1/plot/font"
	"gonum.org/v1/plot/plotter"
	"gonum.org/v1/plot/plotutil"
	"gonum.org/v1/plot/vg"
	"gonum.org/v1/plot/vg/draw"
)

// savePlot writes p as an image (PNG, SVG or PDF by the file extension)
// atomically.
func savePlot(p *plot.Plot, path string) error {
	ext, err := plotFormat(path)
	if err != nil {
		return err
	}
	w, err := p.WriterTo(7*vg.Inch, 4.5*vg.Inch, ext)
	if err != nil {
		return err
	}
	return writeImage(w, path)
}

// writeImage writes a drawn canvas to path atomically.
func writeImage(w io.WriterTo, path string) error {
	f, err := atomicfile.Create(path)
	if err != nil {
		return err
	}
	defer f.Abort()
	if _, err := w.WriteTo(f); err != nil {
		return err
	}
	return f.Commit()
}

// PDF plots record their creation and modification times, so two runs
// differ there; with SOURCE_DATE_EPOCH set (the reproducible-builds
// convention: seconds since 1970) they record that time instead.
func init() { pdfDate(os.Getenv("SOURCE_DATE_EPOCH")) }

// pdfDate makes PDFs record the time epoch (seconds since 1970, as a
// string) when it is one.
func pdfDate(epoch string) {
	if sec, err := strconv.ParseInt(epoch, 10, 64); err == nil {
		t := time.Unix(sec, 0).UTC()
		fpdf.SetDefaultCreationDate(t)
		fpdf.SetDefaultModificationDate(t)
	}
}

// plotFormat returns the image format of a plot's file name: png, svg or pdf.
func plotFormat(path string) (string, error) {
	ext := strings.TrimPrefix(strings.ToLower(filepath.Ext(path)), ".")
	switch ext {
	case "png", "svg", "pdf":
		return ext, nil
	}
	return "", fmt.Errorf("%s: plot format must be .png, .svg or .pdf", path)
}

var selectionColor = map[ranking.Pick]color.Color{
	ranking.PickTop:    color.RGBA{R: 200, G: 40, B: 40, A: 255},
	ranking.PickRandom: color.RGBA{R: 90, G: 90, B: 90, A: 255},
	ranking.PickBottom: color.RGBA{R: 40, G: 80, B: 200, A: 255},
}

// addSelectionLine adds xys, sorted here by x, as a line with points in
// the colour of selection sel, labelled label in the legend.
func addSelectionLine(p *plot.Plot, sel ranking.Pick, xys plotter.XYs, label string) error {
	sort.Slice(xys, func(i, j int) bool { return xys[i].X < xys[j].X })
	l, pts, err := plotter.NewLinePoints(xys)
	if err != nil {
		return err
	}
	l.Color, pts.Color = selectionColor[sel], selectionColor[sel]
	p.Add(l, pts)
	p.Legend.Add(label, l, pts)
	return nil
}

// addReference adds a dotted horizontal line at y, labelled label, and
// widens the y axis to show it (a function has no data range of its own).
func addReference(p *plot.Plot, y float64, label string) {
	ref := plotter.NewFunction(func(float64) float64 { return y })
	ref.Dashes = []vg.Length{vg.Points(1), vg.Points(3)}
	p.Add(ref)
	p.Legend.Add(label, ref)
	p.Y.Min, p.Y.Max = min(p.Y.Min, y), max(p.Y.Max, y)
}

// plotAblation draws accuracy against the share of neurons kept, one line
// per selection, solid for the zeroed full probe and dashed for retrained
// probes (the x label says so; the legend names the selections only), with
// the full probe's accuracy as a reference line.
func plotAblation(res []ablation.Result, full float64, title, path string) error {
	p := plot.New()
	p.Title.Text = title
	p.X.Label.Text = "neurons kept (%): solid, the full probe with the others zeroed"
	dashed := false // some retrained probe drawn
	p.Y.Label.Text = "test accuracy"
	p.Y.Min, p.Y.Max = 0, 1
	for _, sel := range ranking.Picks {
		var zeroed, retrained plotter.XYs
		for _, r := range res {
			if r.Selection != sel {
				continue
			}
			zeroed = append(zeroed, plotter.XY{X: r.Percent, Y: r.Zeroed})
			if r.Retrained != nil {
				retrained = append(retrained, plotter.XY{X: r.Percent, Y: *r.Retrained})
			}
		}
		if len(zeroed) == 0 {
			continue
		}
		if err := addSelectionLine(p, sel, zeroed, string(sel)); err != nil {
			return err
		}
		if len(retrained) > 0 {
			sort.Slice(retrained, func(i, j int) bool { return retrained[i].X < retrained[j].X })
			l, err := plotter.NewLine(retrained)
			if err != nil {
				return err
			}
			l.Color, l.Dashes = selectionColor[sel], []vg.Length{vg.Points(4), vg.Points(3)}
			p.Add(l)
			dashed = true
		}
	}
	if dashed {
		p.X.Label.Text += "; dashed, a probe retrained on them"
	}
	addReference(p, full, "all neurons")
	// Every line rises towards the full accuracy as more neurons are kept:
	// the lower right, many neurons kept at low accuracy, stays empty; four
	// legend entries fit there.
	p.Legend.Top, p.Legend.Left = false, false
	p.Legend.XOffs, p.Legend.YOffs = -vg.Points(8), vg.Points(8)
	p.Add(plotter.NewGrid())
	return savePlot(p, path)
}

// plotGrid draws the elastic-net trade-off (the paper's Figure 2): dev
// accuracy against the number of neurons holding 25% of the labels' weight
// mass, one labelled point per (λ1, λ2), the chosen one highlighted.
func plotGrid(res *gridsearch.Result, path string) error {
	p := plot.New()
	p.Title.Text = "elastic-net grid: accuracy vs focus"
	p.X.Label.Text = "neurons holding 25% of the weight mass (union over labels)"
	p.Y.Label.Text = "dev accuracy"
	var xys plotter.XYs
	var labels []string
	for _, pt := range res.Points {
		xys = append(xys, plotter.XY{X: float64(pt.Union), Y: pt.DevAccuracy})
		labels = append(labels, fmt.Sprintf("λ1=%g λ2=%g", pt.L1, pt.L2))
	}
	sc, err := plotter.NewScatter(xys)
	if err != nil {
		return err
	}
	p.Add(sc)
	lb, err := plotter.NewLabels(plotter.XYLabels{XYs: xys, Labels: labels})
	if err != nil {
		return err
	}
	for i := range lb.TextStyle {
		lb.TextStyle[i].Font.Size = vg.Points(7)
	}
	p.Add(lb)
	if res.Chosen >= 0 {
		ch, err := plotter.NewScatter(xys[res.Chosen : res.Chosen+1])
		if err != nil {
			return err
		}
		ch.GlyphStyle.Shape = draw.CircleGlyph{}
		ch.GlyphStyle.Radius = vg.Points(5)
		ch.GlyphStyle.Color = color.RGBA{R: 200, G: 40, B: 40, A: 255}
		p.Add(ch)
		p.Legend.Add("chosen", ch)
	}
	p.Add(plotter.NewGrid())
	return savePlot(p, path)
}

// plotCrossCorr draws each model's cross-model scores in ranking order
// against the neuron's rank as a share of the model's neurons (Bau et al.
// 2019, Figure 1): a few neurons with high MaxCorr and a long tail mean a
// small set of neurons is shared across models.
func plotCrossCorr(res *crosscorr.Ranking, path string) error {
	p := plot.New()
	p.Title.Text = fmt.Sprintf("%s over %d tokens", res.Method, res.Tokens)
	p.X.Label.Text = "neuron rank (% of the model's neurons)"
	p.Y.Label.Text = "score"
	for i, mr := range res.Models {
		xys := make(plotter.XYs, len(mr.Ranking))
		for r, rn := range mr.Ranking {
			xys[r] = plotter.XY{X: 100 * float64(r) / float64(len(mr.Ranking)), Y: rn.Score}
		}
		l, err := plotter.NewLine(xys)
		if err != nil {
			return err
		}
		l.Color = plotutil.Color(i)
		p.Add(l)
		p.Legend.Add(mr.Model, l)
	}
	p.Legend.Top = !res.Method.Ascending()
	p.Add(plotter.NewGrid())
	return savePlot(p, path)
}

// plotSweep draws an ablation sweep inside a model: the metric against the
// percentage of ranked neurons clamped to 0, one line per selection, with
// the unmasked score as a reference line.
func plotSweep(pts []sweepPoint, base float64, metric string, value func(evalScore) float64, path string) error {
	p := plot.New()
	p.Title.Text = "ablation inside the model"
	p.X.Label.Text = "ranked neurons clamped to 0 (%)"
	p.Y.Label.Text = metric
	for _, sel := range ranking.Picks {
		var xys plotter.XYs
		for _, pt := range pts {
			if pt.Selection == sel {
				xys = append(xys, plotter.XY{X: pt.Percent, Y: value(pt.evalScore)})
			}
		}
		if len(xys) == 0 {
			continue
		}
		if err := addSelectionLine(p, sel, xys, string(sel)+" clamped"); err != nil {
			return err
		}
	}
	addReference(p, base, "no neuron clamped")
	p.Legend.Top = metric == "perplexity"
	p.Add(plotter.NewGrid())
	return savePlot(p, path)
}

// Colours of activations drawn over text, NeuroX's: blue above 0, red below.
var (
	aboveZero = color.RGBA{R: 0x00, G: 0xaa, B: 0xd4, A: 255}
	belowZero = color.RGBA{R: 0xd3, G: 0x5f, B: 0x5f, A: 255}
)

// activationColor is white blended towards blue (v > 0) or red (v < 0) by
// |v| / limit (clamped to 1; limit must be > 0), opaque so that every format
// draws it alike.
func activationColor(v, limit float32) color.RGBA {
	c := aboveZero
	if v < 0 {
		c = belowZero
	}
	a := min(math.Abs(float64(v))/float64(limit), 1)
	mix := func(x uint8) uint8 { return uint8(math.Round(255 - a*(255-float64(x)))) }
	return color.RGBA{R: mix(c.R), G: mix(c.G), B: mix(c.B), A: 255}
}

// Page geometry of activation plots, in points.
const (
	vizWidth  = 7 * vg.Inch
	vizMargin = vg.Length(18)
	vizSize   = vg.Length(10) // font size of the tokens
	vizLine   = 1.6 * vizSize
	vizPad    = vg.Length(1.5) // coloured margin around a token
	// vizMaxHeight is the tallest page drawn: 200 inches, PDF's page size
	// limit (≈ 19,200 pixels in PNG).
	vizMaxHeight = 200 * vg.Inch
)

var (
	vizTokenFace   = font.DefaultCache.Lookup(font.Font{Typeface: "Liberation", Variant: "Sans"}, vizSize)
	vizHeadingFace = font.DefaultCache.Lookup(font.Font{Typeface: "Liberation", Variant: "Sans"}, vizSize+1)
)

// placedToken is a token's text, its baseline start (y measured down from
// the top of its neuron's panel) and its drawn width.
type placedToken struct {
	x, y, w vg.Length
	text    string
}

// activationPlot is the layout of an activation plot: one panel per neuron,
// each a heading and the same sentences, wrapped to the page.
type activationPlot struct {
	tokens [][]placedToken // per sentence
	panel  vg.Length       // a panel's height
	height vg.Length       // the page's
}

// newActivationPlot lays out sentences for a plot of n neurons; a page
// taller than vizMaxHeight is an error naming the flags that make it.
func newActivationPlot(sentences [][]string, n int) (*activationPlot, error) {
	face := vizTokenFace
	widest := vizWidth - 2*vizMargin - 2*vizPad
	p := &activationPlot{}
	y := 1.4 * vizLine // the heading and a gap
	for s, toks := range sentences {
		y += vizLine
		if s > 0 {
			y += 0.4 * vizLine // sentences apart more than a sentence's wrapped lines
		}
		x := vizMargin
		row := make([]placedToken, len(toks))
		for k, tok := range toks {
			tok = fitWidth(tok, face, widest)
			w := face.Width(tok)
			if x > vizMargin && x+w > vizWidth-vizMargin {
				x, y = vizMargin, y+vizLine
			}
			row[k] = placedToken{x: x, y: y, w: w, text: tok}
			x += w + face.Width(" ") + 2*vizPad
		}
		p.tokens = append(p.tokens, row)
	}
	p.panel = y + 0.5*vizLine
	p.height = 2*vizMargin + vg.Length(n)*p.panel
	if p.height > vizMaxHeight {
		return nil, fmt.Errorf("--plot: %d neurons × %d sentences make a page %.0f inches tall (at most %.0f): draw fewer --neurons or --sentences",
			n, len(sentences), p.height/vg.Inch, vizMaxHeight/vg.Inch)
	}
	return p, nil
}

// fitWidth returns tok, or its longest prefix followed by "…" that is at
// most max wide when drawn in face.
func fitWidth(tok string, face font.Face, max vg.Length) string {
	if face.Width(tok) <= max {
		return tok
	}
	r := []rune(tok)
	n := sort.Search(len(r), func(n int) bool { return face.Width(string(r[:n+1])+"…") > max })
	return string(r[:n]) + "…"
}

// draw writes the plot of v's neurons to path (PNG, SVG or PDF): every
// token on a background coloured by activationColor, full colour at the
// neuron's largest |activation| over the drawn tokens (NeuroX's
// visualize_activations, one panel per neuron). Tokens are drawn in
// Liberation Sans: characters it lacks (CJK, emoji …) are left out, their
// token's background still drawn.
func (p *activationPlot) draw(v *visualization, path string) error {
	format, err := plotFormat(path)
	if err != nil {
		return err
	}
	cw, err := draw.NewFormattedCanvas(vizWidth, p.height, format)
	if err != nil {
		return err
	}
	dc := draw.New(cw)
	rect := func(c color.Color, x0, y0, x1, y1 vg.Length) { // y down from the top
		dc.FillPolygon(c, []vg.Point{{X: x0, Y: p.height - y0}, {X: x1, Y: p.height - y0}, {X: x1, Y: p.height - y1}, {X: x0, Y: p.height - y1}})
	}
	text := func(face font.Face, x, y vg.Length, s string) {
		cw.SetColor(color.Black)
		cw.FillString(face, vg.Point{X: x, Y: p.height - y}, s)
	}
	rect(color.White, 0, 0, vizWidth, p.height)
	ext := vizTokenFace.Extents()
	for j, nv := range v.Neurons {
		top := vizMargin + vg.Length(j)*p.panel
		var limit float32
		for _, sent := range nv.Activations {
			for _, a := range sent {
				limit = max(limit, float32(math.Abs(float64(a))))
			}
		}
		if limit == 0 {
			limit = 1
		}
		text(vizHeadingFace, vizMargin, top+vizLine,
			fmt.Sprintf("neuron %d (%s): blue above 0, red below, full colour at ±%.3g", nv.Neuron, nv.Name, limit))
		for s, row := range p.tokens {
			for k, t := range row {
				y := top + t.y
				rect(activationColor(nv.Activations[s][k], limit), t.x-vizPad, y-ext.Ascent-vizPad, t.x+t.w+vizPad, y+ext.Descent+vizPad)
				text(vizTokenFace, t.x, y, t.text)
			}
		}
	}
	return writeImage(cw, path)
}
