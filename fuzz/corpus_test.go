package fuzz

import (
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
)

// checkCorpus checks that every seed of target is also a corpus file under
// testdata/fuzz/<target>/ with the same bytes, so `go test ./fuzz` and the
// fuzzer start from the same inputs. SLUICE_UPDATE_CORPUS=1 writes the files
// instead.
func checkCorpus(t *testing.T, target string, seeds map[string][]byte) {
	t.Helper()
	dir := filepath.Join("testdata", "fuzz", target)
	for name, seed := range seeds {
		path := filepath.Join(dir, name)
		if os.Getenv("SLUICE_UPDATE_CORPUS") != "" {
			if err := os.MkdirAll(dir, 0o755); err != nil {
				t.Fatal(err)
			}
			body := "go test fuzz v1\n[]byte(" + strconv.Quote(string(seed)) + ")\n"
			if err := os.WriteFile(path, []byte(body), 0o644); err != nil {
				t.Fatal(err)
			}
			continue
		}
		body, err := os.ReadFile(path)
		if err != nil {
			t.Errorf("seed %s has no corpus file: %v", name, err)
			continue
		}
		lines := strings.Split(strings.TrimSuffix(string(body), "\n"), "\n")
		if len(lines) != 2 || lines[0] != "go test fuzz v1" ||
			!strings.HasPrefix(lines[1], "[]byte(") || !strings.HasSuffix(lines[1], ")") {
			t.Errorf("%s: not a one-value go test fuzz v1 file", path)
			continue
		}
		got, err := strconv.Unquote(strings.TrimSuffix(strings.TrimPrefix(lines[1], "[]byte("), ")"))
		if err != nil || got != string(seed) {
			t.Errorf("%s: holds %q (%v), seed is %q", path, got, err, seed)
		}
	}
}
