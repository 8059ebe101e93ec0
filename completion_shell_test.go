package main

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// The shell tests type into real bash, zsh and fish, each in its own tmux server, press Tab and
// read the line back from the pane. bkctl is this test binary (BKCTL_TEST_MAIN=1 makes it run
// main, see completion_test.go), found through PATH as the scripts expect; linking the real
// binary would take longer than all of these tests.

// shellPrompt is the prompt every shell gets, so the tests find the line being edited.
const shellPrompt = "CT> "

// shellCompletions are typed, completed with one Tab, and must leave exactly want on the line.
var shellCompletions = []struct{ name, keys, want string }{
	{"command", "bkctl sta", "bkctl status"},
	{"flag", "bkctl plan --exit", "bkctl plan --exit-code"},
	{"builder from ./builders.yaml", "bkctl status ku", "bkctl status kube"},
	{"context from KUBECONFIG", "bkctl --context arn:aws:e", "bkctl --context arn:aws:eks:eu-west-1:123456789012:cluster/prod"},
	{"platform of the builder", "bkctl build --builder other --platform linux/s390x,", "bkctl build --builder other --platform linux/s390x,linux/riscv64"},
}

func TestCompletionInShells(t *testing.T) {
	for _, tool := range []string{"tmux", "bash", "zsh", "fish"} {
		if _, err := exec.LookPath(tool); err != nil {
			t.Fatalf("%s is not installed (hint: make testdeps, or apt-get install tmux zsh fish)", tool)
		}
	}
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	bin := t.TempDir()
	if err := os.Symlink(exe, filepath.Join(bin, "bkctl")); err != nil {
		t.Fatal(err)
	}
	work := completionWorkdir(t)
	script := func(t *testing.T, shell string) string {
		code, out, errs := runCLI(t, "", "completion", shell)
		if code != 0 {
			t.Fatalf("completion %s: exit %d: %s", shell, code, errs)
		}
		return out
	}

	for _, sh := range []struct {
		name string
		// setup writes the shell's files into home and returns its command and the line that
		// loads its configuration ("" when it loads by itself).
		setup func(t *testing.T, home string) (argv []string, load string)
	}{
		{"bash", func(t *testing.T, home string) ([]string, string) {
			return []string{"bash", "--norc", "--noprofile", "-i"}, "PS1='" + shellPrompt + "'; source <(bkctl completion bash)"
		}},
		{"zsh fpath", func(t *testing.T, home string) ([]string, string) {
			writeFile(t, mkdir(t, home, "functions"), "_bkctl", script(t, "zsh"))
			writeFile(t, home, ".zshrc", fmt.Sprintf("fpath=(%s $fpath)\nautoload -Uz compinit && compinit -u -D\nPS1='%s'\n",
				filepath.Join(home, "functions"), shellPrompt))
			return []string{"zsh", "-f", "-i"}, "source $ZDOTDIR/.zshrc"
		}},
		{"zsh source", func(t *testing.T, home string) ([]string, string) {
			writeFile(t, home, ".zshrc", fmt.Sprintf("autoload -Uz compinit && compinit -u -D\nsource <(bkctl completion zsh)\nPS1='%s'\n", shellPrompt))
			return []string{"zsh", "-f", "-i"}, "source $ZDOTDIR/.zshrc"
		}},
		{"fish", func(t *testing.T, home string) ([]string, string) {
			fish := mkdir(t, home, "config", "fish")
			writeFile(t, mkdir(t, fish, "completions"), "bkctl.fish", script(t, "fish"))
			writeFile(t, fish, "config.fish", fmt.Sprintf("set -g fish_greeting\nset -g fish_autosuggestion_enabled 0\nfunction fish_prompt; printf '%%s' '%s'; end\n", shellPrompt))
			// without it, fish's first interactive start generates completions from man pages in
			// the background, still writing there when the test removes its home
			mkdir(t, home, "data", "fish", "generated_completions")
			return []string{"fish", "-i"}, ""
		}},
	} {
		t.Run(sh.name, func(t *testing.T) {
			t.Parallel()
			home := t.TempDir()
			argv, load := sh.setup(t, home)
			env := []string{
				"HOME=" + home, "ZDOTDIR=" + home, "XDG_CONFIG_HOME=" + filepath.Join(home, "config"),
				"XDG_DATA_HOME=" + filepath.Join(home, "data"), "XDG_CACHE_HOME=" + filepath.Join(home, "cache"),
				"PATH=" + bin + ":/usr/local/bin:/usr/bin:/bin", "TERM=screen", "LANG=C.UTF-8",
				"KUBECONFIG=" + filepath.Join(work, "kubeconfig"), "BKCTL_TEST_MAIN=1",
			}
			s := startTmux(t, work, append(append([]string{"env", "-i"}, env...), argv...))
			if load != "" {
				s.waitFor("the shell's first prompt", func(pane string) bool { return strings.TrimSpace(pane) != "" })
				s.send(load, "Enter")
			}
			s.waitFor("the prompt "+shellPrompt, func(pane string) bool { return editLine(pane) == "" })
			for _, c := range shellCompletions {
				s.send(c.keys, "Tab")
				s.waitFor(c.name+": "+c.want, func(pane string) bool { return editLine(pane) == c.want })
				if strings.Contains(s.capture(), "rror") {
					t.Errorf("%s: the pane shows an error:\n%s", c.name, s.capture())
				}
				s.send("C-u")
				s.waitFor("an empty line after "+c.name, func(pane string) bool { return editLine(pane) == "" })
			}
		})
	}
}

// TestCompletionScriptsCallBkctlThroughPath: no script records where this binary is, and the
// zsh script starts as compinit requires.
func TestCompletionScriptsCallBkctlThroughPath(t *testing.T) {
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	for _, shell := range []string{"bash", "zsh", "fish"} {
		code, out, errs := runCLI(t, "", "completion", shell)
		if code != 0 || errs != "" {
			t.Errorf("completion %s: exit %d: %s", shell, code, errs)
		}
		if strings.Contains(out, exe) || strings.Contains(out, filepath.Dir(exe)) {
			t.Errorf("completion %s records the executable's path %s:\n%s", shell, exe, out)
		}
		if !strings.Contains(out, "command bkctl ") {
			t.Errorf("completion %s does not run bkctl through PATH:\n%s", shell, out)
		}
	}
	if _, out, _ := runCLI(t, "", "completion", "zsh"); !strings.HasPrefix(out, "#compdef bkctl\n") {
		t.Errorf("the zsh script does not start with #compdef bkctl:\n%s", out)
	}
}

// tmuxShell is one shell in a tmux server of its own (a socket in the test's temp dir).
type tmuxShell struct {
	t      *testing.T
	socket string
}

// startTmux starts argv in a new tmux server in dir; the server ends with the test.
func startTmux(t *testing.T, dir string, argv []string) *tmuxShell {
	t.Helper()
	s := &tmuxShell{t: t, socket: filepath.Join(t.TempDir(), "tmux")}
	if out, err := s.tmux(append([]string{"new-session", "-d", "-x", "200", "-y", "50", "-c", dir}, argv...)...); err != nil {
		t.Fatalf("start tmux: %v: %s", err, out)
	}
	t.Cleanup(func() {
		if out, err := s.tmux("kill-server"); err != nil {
			t.Logf("stop tmux: %v: %s", err, out)
		}
	})
	return s
}

func (s *tmuxShell) tmux(args ...string) (string, error) {
	cmd := exec.Command("tmux", append([]string{"-S", s.socket, "-f", "/dev/null"}, args...)...)
	cmd.Env = append(os.Environ(), "TMUX=") // a test run inside tmux must not talk to that server
	out, err := cmd.CombinedOutput()
	return string(out), err
}

// send types keys: literal text, or tmux key names such as Tab, Enter and C-u.
func (s *tmuxShell) send(keys ...string) {
	s.t.Helper()
	if out, err := s.tmux(append([]string{"send-keys", "-t", "0"}, keys...)...); err != nil {
		s.t.Fatalf("tmux send-keys %q: %v: %s", keys, err, out)
	}
}

// capture returns what the pane shows.
func (s *tmuxShell) capture() string {
	s.t.Helper()
	out, err := s.tmux("capture-pane", "-p", "-t", "0")
	if err != nil {
		s.t.Fatalf("tmux capture-pane: %v: %s", err, out)
	}
	return out
}

// waitFor polls the pane until ok holds, and ends the test with the pane when it does not
// within the deadline (generous: the machine may be busy; a passing wait takes milliseconds).
func (s *tmuxShell) waitFor(what string, ok func(pane string) bool) {
	s.t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for {
		pane := s.capture()
		if ok(pane) {
			return
		}
		if time.Now().After(deadline) {
			s.t.Fatalf("waited for %s; the pane shows:\n%s", what, pane)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// editLine returns what follows the last prompt in pane, or "?" when no prompt shows.
func editLine(pane string) string {
	lines := strings.Split(pane, "\n")
	for i := len(lines) - 1; i >= 0; i-- {
		l := strings.TrimRight(lines[i], " ")
		if l == strings.TrimRight(shellPrompt, " ") {
			return ""
		}
		if rest, ok := strings.CutPrefix(l, shellPrompt); ok {
			return rest
		}
	}
	return "?"
}

// mkdir makes the directory elem under dir and returns it.
func mkdir(t *testing.T, dir string, elem ...string) string {
	t.Helper()
	p := filepath.Join(append([]string{dir}, elem...)...)
	if err := os.MkdirAll(p, 0o755); err != nil {
		t.Fatal(err)
	}
	return p
}
