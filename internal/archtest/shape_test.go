package archtest

import (
	"bufio"
	"fmt"
	"go/ast"
	"go/parser"
	"go/token"
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
)

const module = "github.com/sluice-proxy/sluice"

// root is the repository's root, from this package's directory.
const root = "../.."

// outside are the trees that stand beside the floors: they may import any
// package and nothing imports them.
var outside = []string{"bench", "fuzz", "examples"}

// floorRow is a row of the floors table: "| 3 | `connfilter` | ...".
var floorRow = regexp.MustCompile("^\\| (\\d+) \\| ([^|]+) \\|")

// floorsFromDoc reads the package floors table of docs/architecture.md.
func floorsFromDoc(t *testing.T) map[string]int {
	t.Helper()
	f, err := os.Open(filepath.Join(root, "docs", "architecture.md"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	floors := map[string]int{}
	in := false
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		line := sc.Text()
		if strings.HasPrefix(line, "## ") {
			in = line == "## Package floors"
			continue
		}
		m := floorRow.FindStringSubmatch(line)
		if !in || m == nil {
			continue
		}
		n, _ := strconv.Atoi(m[1])
		for _, name := range regexp.MustCompile("`([^`]+)`").FindAllStringSubmatch(m[2], -1) {
			floors[name[1]] = n
		}
	}
	if len(floors) < 10 {
		t.Fatalf("found %d packages in the floors table of docs/architecture.md; has its heading or form changed?", len(floors))
	}
	return floors
}

// pkgImports returns, for every package directory below root (relative,
// slash-separated), the module's packages its non-test files import.
// Files of every build tag count.
func pkgImports(t *testing.T) map[string][]string {
	t.Helper()
	out := map[string][]string{}
	err := filepath.WalkDir(root, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		name := d.Name()
		if d.IsDir() && path != root && (strings.HasPrefix(name, ".") || name == "testdata") {
			return filepath.SkipDir
		}
		if d.IsDir() || !strings.HasSuffix(name, ".go") || strings.HasSuffix(name, "_test.go") {
			return nil
		}
		file, err := parser.ParseFile(token.NewFileSet(), path, nil, parser.ImportsOnly)
		if err != nil {
			return err
		}
		dir, _ := filepath.Rel(root, filepath.Dir(path))
		dir = filepath.ToSlash(dir)
		if _, ok := out[dir]; !ok {
			out[dir] = nil
		}
		for _, imp := range file.Imports {
			p, _ := strconv.Unquote(imp.Path.Value)
			if rest, ok := strings.CutPrefix(p, module+"/"); ok && !slices.Contains(out[dir], rest) {
				out[dir] = append(out[dir], rest)
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// violations checks imports against floors and returns one line per
// breach: a package on no floor, an import of a package on the same or a
// higher floor, an internal package importing a floored one.
func violations(floors map[string]int, imports map[string][]string) []string {
	var bad []string
	for pkg, deps := range imports {
		top := strings.SplitN(pkg, "/", 2)[0]
		if slices.Contains(outside, top) || pkg == "." {
			continue
		}
		if top == "internal" {
			// Helpers below every floor: they import no floored package.
			for _, d := range deps {
				if _, ok := floors[d]; ok {
					bad = append(bad, fmt.Sprintf("%s (internal, below every floor) imports %s (floor %d)", pkg, d, floors[d]))
				}
			}
			continue
		}
		f, ok := floors[pkg]
		if !ok {
			bad = append(bad, fmt.Sprintf("%s is on no floor: add it to the table in docs/architecture.md", pkg))
			continue
		}
		for _, d := range deps {
			if strings.HasPrefix(d, "internal/") {
				continue
			}
			df, ok := floors[d]
			switch {
			case !ok:
				bad = append(bad, fmt.Sprintf("%s (floor %d) imports %s, which is on no floor", pkg, f, d))
			case df >= f:
				bad = append(bad, fmt.Sprintf("%s (floor %d) imports %s (floor %d): a package imports only floors below its own", pkg, f, d, df))
			}
		}
	}
	slices.Sort(bad)
	return bad
}

// TestFloors fails when a package imports one on its own floor or a higher
// one, as docs/architecture.md's table gives them.
func TestFloors(t *testing.T) {
	for _, v := range violations(floorsFromDoc(t), pkgImports(t)) {
		t.Error(v)
	}
}

// TestViolationsCatchesWrongImports: the checker itself finds each kind of
// breach (so that TestFloors can fail).
func TestViolationsCatchesWrongImports(t *testing.T) {
	floors := map[string]int{"splice": 1, "lb": 6, "tcpproxy": 7, "httpproxy": 7}
	imports := map[string][]string{
		"splice":          {"lb"},                          // upward
		"tcpproxy":        {"httpproxy", "internal/x"},     // same floor; internal is fine
		"lb":              {"internal/localerr"},           // fine
		"newpkg":          nil,                             // on no floor
		"internal/helper": {"splice"},                      // internal importing a floor
		"bench/x":         {"tcpproxy", "httpproxy", "lb"}, // outside: anything
	}
	got := violations(floors, imports)
	want := []string{
		"internal/helper (internal, below every floor) imports splice (floor 1)",
		"newpkg is on no floor: add it to the table in docs/architecture.md",
		"splice (floor 1) imports lb (floor 6): a package imports only floors below its own",
		"tcpproxy (floor 7) imports httpproxy (floor 7): a package imports only floors below its own",
	}
	if !slices.Equal(got, want) {
		t.Errorf("violations:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
}

// importClass orders import paths as goimports groups them: the standard
// library, then other modules, then this module's packages.
func importClass(path string) int {
	switch {
	case path == module || strings.HasPrefix(path, module+"/"):
		return 2
	case !strings.Contains(strings.SplitN(path, "/", 2)[0], "."):
		return 0
	}
	return 1
}

// TestImportGroups: every file's imports are grouped as goimports writes
// them: the standard library first, then other modules, then sluice's own
// packages, each kind in a group of its own, the groups separated by a
// blank line.
func TestImportGroups(t *testing.T) {
	err := filepath.WalkDir(root, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() && path != root && (strings.HasPrefix(d.Name(), ".") || d.Name() == "testdata") {
			return filepath.SkipDir
		}
		if d.IsDir() || !strings.HasSuffix(path, ".go") {
			return nil
		}
		fset := token.NewFileSet()
		file, err := parser.ParseFile(fset, path, nil, parser.ImportsOnly)
		if err != nil {
			return err
		}
		lastLine, lastClass := 0, -1
		for _, imp := range file.Imports {
			p, _ := strconv.Unquote(imp.Path.Value)
			line, class := fset.Position(imp.Pos()).Line, importClass(p)
			if imp.Doc != nil {
				line = fset.Position(imp.Doc.Pos()).Line
			}
			newGroup := lastLine != 0 && line > lastLine+1
			switch {
			case lastClass < 0:
			case class < lastClass:
				t.Errorf("%s: %s comes after an import of a later kind (standard library, other modules, sluice)", path, p)
			case class != lastClass && !newGroup:
				t.Errorf("%s: %s shares a group with imports of another kind; goimports separates them with a blank line", path, p)
			}
			lastLine, lastClass = fset.Position(imp.End()).Line, class
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}

// maxFuncLines bounds a function's length in the project's own code (tests,
// benchmarks and the fuzz targets aside).
const maxFuncLines = 100

// TestFunctionLength: no function of the libraries, the binary or the
// examples runs over maxFuncLines lines; split it where it changes
// subject.
func TestFunctionLength(t *testing.T) {
	err := filepath.WalkDir(root, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		name := d.Name()
		if d.IsDir() && path != root && (strings.HasPrefix(name, ".") || name == "testdata" || name == "bench" || name == "fuzz") {
			return filepath.SkipDir
		}
		if d.IsDir() || !strings.HasSuffix(name, ".go") || strings.HasSuffix(name, "_test.go") {
			return nil
		}
		fset := token.NewFileSet()
		file, err := parser.ParseFile(fset, path, nil, 0)
		if err != nil {
			return err
		}
		for _, decl := range file.Decls {
			fd, ok := decl.(*ast.FuncDecl)
			if !ok {
				continue
			}
			if n := fset.Position(fd.End()).Line - fset.Position(fd.Pos()).Line + 1; n > maxFuncLines {
				t.Errorf("%s: %s is %d lines, over %d", path, fd.Name.Name, n, maxFuncLines)
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}
