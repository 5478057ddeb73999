package chaos

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestKeepNotes: a new report keeps the hand-written notes of the old one, and
// is written as it is where the old one has none or does not exist.
func TestKeepNotes(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "reliability.md")
	md := []byte("# Reliability\n\nnew figures\n")
	if got := string(KeepNotes(md, path)); got != string(md) {
		t.Errorf("no old report: %q", got)
	}
	if err := os.WriteFile(path, []byte("# Reliability\n\nold figures\n\n## Notes on this run\n\nby hand\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	got := string(KeepNotes(md, path))
	if want := "# Reliability\n\nnew figures\n\n## Notes on this run\n\nby hand\n"; got != want {
		t.Errorf("got %q, want %q", got, want)
	}
	if strings.Contains(got, "old figures") {
		t.Error("the old figures were kept")
	}
	if err := os.WriteFile(path, []byte("# Reliability\n\nold figures\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if got := string(KeepNotes(md, path)); got != string(md) {
		t.Errorf("old report without notes: %q", got)
	}
}
