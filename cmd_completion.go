package main

import (
	"fmt"
	"os"
	"path/filepath"
)

type completionCmd struct {
	Shell string `arg:"" enum:"bash,zsh,fish" help:"Shell: bash, zsh or fish."`
}

func (c *completionCmd) Help() string {
	return `The script asks bkctl itself for completions (commands, flags, file names).

Examples:
  source <(bkctl completion bash)
  bkctl completion zsh > "${fpath[1]}/_bkctl"
  bkctl completion fish > ~/.config/fish/completions/bkctl.fish`
}

func (c *completionCmd) Run(s streams) error {
	bin, err := os.Executable()
	if err != nil {
		return fmt.Errorf("find bkctl executable: %w", err)
	}
	if abs, err := filepath.Abs(bin); err == nil {
		bin = abs
	}
	var script string
	switch c.Shell {
	case "bash":
		script = fmt.Sprintf("complete -o default -C %q bkctl\n", bin)
	case "zsh":
		script = fmt.Sprintf("autoload -U +X bashcompinit && bashcompinit\ncomplete -o default -C %q bkctl\n", bin)
	case "fish":
		script = fmt.Sprintf(`function __bkctl_complete
    set -lx COMP_LINE (commandline -cp)
    test -z (commandline -ct); and set COMP_LINE "$COMP_LINE "
    %q
end
complete -c bkctl -f -a "(__bkctl_complete)"
`, bin)
	}
	_, err = fmt.Fprint(s.Out, script)
	return err
}
