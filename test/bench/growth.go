package bench

import (
	"fmt"
	"path/filepath"

	"gonum.org/v1/plot"
	"gonum.org/v1/plot/plotter"
	"gonum.org/v1/plot/plotutil"
	"gonum.org/v1/plot/vg"
)

// GrowthShards are the federation sizes of the growth phase, in shards.
var GrowthShards = []int{10_000, 50_000, 100_000, 500_000}

// GrowthMembers is the number of synthetic members of every growth size: the
// 50-member wide topology, with shards/50 Services each.
const GrowthMembers = 50

// GrowthTopology is the wide topology of GrowthMembers members holding shards
// shards in all.
func GrowthTopology(shards int) Topology {
	return WideTopology(GrowthMembers, max(1, shards/GrowthMembers))
}

// GrowthPlots draws the growth phase's results (one Synthetic per size, in
// increasing order) as three SVG files in dir: memory, full rebuild time and
// change-to-answer latency against shards. It returns the files' names.
func GrowthPlots(runs []*Synthetic, dir string) ([]string, error) {
	const mib = 1 << 20
	series := func(f func(*Synthetic) float64) plotter.XYs {
		xy := make(plotter.XYs, len(runs))
		for i, r := range runs {
			xy[i].X, xy[i].Y = float64(r.Shards), f(r)
		}
		return xy
	}
	type figure struct {
		file, title, y string
		lines          []any
	}
	figures := []figure{
		{"growth-rss.svg", "Memory after sync", "MiB", []any{
			"RSS", series(func(r *Synthetic) float64 { return float64(r.Memory.RSS) / mib }),
			"live heap", series(func(r *Synthetic) float64 { return float64(r.HeapLive) / mib }),
		}},
		{"growth-rebuild.svg", "Snapshot rebuild", "ms", []any{
			"full rebuild", series(func(r *Synthetic) float64 { return r.FullRebuildMs }),
			"one Service", series(func(r *Synthetic) float64 { return r.ServiceRebuildMs }),
		}},
		{"growth-propagation.svg", "EndpointSlice change to answer", "ms", []any{
			"p50", series(func(r *Synthetic) float64 { return r.ChangeToAnswerMs }),
			"p99", series(func(r *Synthetic) float64 { return r.ChangeToAnswerP99Ms }),
		}},
	}
	var files []string
	for _, fig := range figures {
		p := plot.New()
		p.Title.Text = fig.title
		p.X.Label.Text = fmt.Sprintf("shards (%d synthetic members)", GrowthMembers)
		p.Y.Label.Text = fig.y
		p.Add(plotter.NewGrid())
		if err := plotutil.AddLinePoints(p, fig.lines...); err != nil {
			return nil, fmt.Errorf("%s: %w", fig.file, err)
		}
		p.Legend.Top, p.Legend.Left = true, true
		path := filepath.Join(dir, fig.file)
		if err := p.Save(6*vg.Inch, 4*vg.Inch, path); err != nil {
			return nil, fmt.Errorf("%s: %w", fig.file, err)
		}
		files = append(files, path)
	}
	return files, nil
}
