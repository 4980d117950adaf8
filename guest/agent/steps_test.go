package agent

import (
	"fmt"
	"go/ast"
	"go/parser"
	"go/token"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"unicode"
)

// doConstants are the Do* constants the Go files declare: the steps a case
// may ask for.
func doConstants(files map[string]string) ([]string, error) {
	var out []string
	fset := token.NewFileSet()
	for name, src := range files {
		f, err := parser.ParseFile(fset, name, src, 0)
		if err != nil {
			return nil, err
		}
		for _, decl := range f.Decls {
			gd, ok := decl.(*ast.GenDecl)
			if !ok || gd.Tok != token.CONST {
				continue
			}
			for _, spec := range gd.Specs {
				for _, id := range spec.(*ast.ValueSpec).Names {
					if rest, ok := strings.CutPrefix(id.Name, "Do"); ok && rest != "" && unicode.IsUpper(rune(rest[0])) {
						out = append(out, id.Name)
					}
				}
			}
		}
	}
	slices.Sort(out)
	return out, nil
}

// handledSteps are the cases.Do* constants that label a case of the switch
// on the step in (*caseRun).step.
func handledSteps(name, src string) ([]string, error) {
	f, err := parser.ParseFile(token.NewFileSet(), name, src, 0)
	if err != nil {
		return nil, err
	}
	var step *ast.FuncDecl
	for _, decl := range f.Decls {
		if fd, ok := decl.(*ast.FuncDecl); ok && fd.Name.Name == "step" && fd.Recv != nil {
			step = fd
		}
	}
	if step == nil || len(step.Type.Params.List) == 0 || len(step.Type.Params.List[0].Names) == 0 {
		return nil, fmt.Errorf("%s: no method step(st cases.Step)", name)
	}
	param := step.Type.Params.List[0].Names[0].Name
	var out []string
	switches := 0
	ast.Inspect(step.Body, func(n ast.Node) bool {
		sw, ok := n.(*ast.SwitchStmt)
		if !ok || !isSelector(sw.Tag, param, "Do") {
			return true
		}
		switches++
		for _, c := range sw.Body.List {
			for _, e := range c.(*ast.CaseClause).List {
				if sel, ok := e.(*ast.SelectorExpr); ok && isSelector(sel, "cases", sel.Sel.Name) {
					out = append(out, sel.Sel.Name)
				}
			}
		}
		return true
	})
	if switches != 1 {
		return nil, fmt.Errorf("%s: step has %d switches on %s.Do; want one", name, switches, param)
	}
	slices.Sort(out)
	return out, nil
}

func isSelector(e ast.Expr, x, sel string) bool {
	s, ok := e.(*ast.SelectorExpr)
	if !ok {
		return false
	}
	id, ok := s.X.(*ast.Ident)
	return ok && id.Name == x && s.Sel.Name == sel
}

// unhandled are the steps of consts that handled lacks.
func unhandled(consts, handled []string) []string {
	var out []string
	for _, c := range consts {
		if !slices.Contains(handled, c) {
			out = append(out, c)
		}
	}
	return out
}

func readGo(t *testing.T, glob string) map[string]string {
	paths, err := filepath.Glob(glob)
	if err != nil || len(paths) == 0 {
		t.Fatalf("no Go files at %s: %v", glob, err)
	}
	out := map[string]string{}
	for _, p := range paths {
		if !strings.HasSuffix(p, "_test.go") {
			out[p] = string(mustRead(t, p))
		}
	}
	return out
}

// Every step a case may ask for has its handler in the agent: a new Do*
// constant in cases without one fails here, not in a VM.
func TestStepsHandled(t *testing.T) {
	consts, err := doConstants(readGo(t, "../../cases/*.go"))
	if err != nil {
		t.Fatal(err)
	}
	if len(consts) == 0 {
		t.Fatal("no Do* constants in cases")
	}
	handled, err := handledSteps("case_linux.go", string(mustRead(t, "case_linux.go")))
	if err != nil {
		t.Fatal(err)
	}
	if missing := unhandled(consts, handled); len(missing) > 0 {
		t.Errorf("steps in cases with no case in (*caseRun).step: %v", missing)
	}
}

func TestUnhandledSteps(t *testing.T) {
	consts, err := doConstants(map[string]string{
		"a.go": "package cases\nconst (\n\tDoA = \"a\" // one\n\tDoB = \"b\"\n\tDone = 1\n\tdoLower = 2\n)\nvar DoVar = 3\n",
		"b.go": "package cases\nconst DoC, DoD = \"c\", \"d\"\n",
	})
	if want := []string{"DoA", "DoB", "DoC", "DoD"}; err != nil || !slices.Equal(consts, want) {
		t.Fatalf("doConstants = %q, %v; want %q", consts, err, want)
	}
	agent := `package agent
func (r *caseRun) step(s cases.Step) error {
	switch s.Patch {
	case cases.DoD:
	}
	switch s.Do {
	case cases.DoA, cases.DoB:
		return nil
	case other.DoC:
	default:
	}
	return nil
}
func (r *caseRun) cleanup() {
	switch st.Do {
	case cases.DoC:
	}
}
`
	handled, err := handledSteps("agent.go", agent)
	if want := []string{"DoA", "DoB"}; err != nil || !slices.Equal(handled, want) {
		t.Fatalf("handledSteps = %q, %v; want %q", handled, err, want)
	}
	if got, want := unhandled(consts, handled), []string{"DoC", "DoD"}; !slices.Equal(got, want) {
		t.Errorf("unhandled = %q; want %q", got, want)
	}
	if _, err := handledSteps("agent.go", "package agent\nfunc (r *caseRun) step(st cases.Step) error { return nil }\n"); err == nil {
		t.Error("handledSteps of a step without its switch: no error")
	}
}

func mustRead(t *testing.T, path string) []byte {
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return b
}
