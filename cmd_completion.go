package main

import "fmt"

type completionCmd struct {
	Shell string `arg:"" enum:"bash,zsh,fish" help:"Shell: bash, zsh or fish."`
}

func (c *completionCmd) Help() string {
	return `Prints a script that makes the shell ask bkctl for completions: commands and flags;
builder names for --builder and status NAME, from the builders files on the command line
(-f, file arguments, run's --builders-file), else ./builders.yaml; the platforms their nodes
declare for run --platform; kubeconfig contexts for --context (from --kubeconfig, else
$KUBECONFIG, else ~/.kube/config); namespaces for -n, from the cluster when it answers within
a second, else from the builders files and the kubeconfig contexts. Anything else completes
file names.

The script runs 'bkctl' through $PATH, so it keeps working when an upgrade moves the binary.
Completion never prints errors: what cannot be read offers nothing.

Examples:
  # bash: this shell; add the line to ~/.bashrc for every new one
  source <(bkctl completion bash)

  # zsh, from $fpath: save it as _bkctl in a directory that ~/.zshrc puts into fpath
  # before it runs compinit, e.g. fpath=(~/.zsh/completions $fpath)
  mkdir -p ~/.zsh/completions
  bkctl completion zsh > ~/.zsh/completions/_bkctl

  # zsh, sourced: after compinit in ~/.zshrc
  source <(bkctl completion zsh)

  # fish
  bkctl completion fish > ~/.config/fish/completions/bkctl.fish`
}

func (c *completionCmd) Run(s streams) error {
	script := map[string]string{"bash": bashCompletion, "zsh": zshCompletion, "fish": fishCompletion}[c.Shell]
	_, err := fmt.Fprint(s.Out, script)
	return err
}

// The scripts hand the line being completed to bkctl in COMP_LINE and COMP_POINT (bytes), the
// protocol of bash's complete -C that kongplete answers, and offer what it prints, one
// candidate a line. Each finds bkctl through $PATH rather than recording where it is now.
const (
	bashCompletion = `# bash completion for bkctl: source <(bkctl completion bash)
_bkctl() {
    mapfile -t COMPREPLY < <(COMP_LINE=$COMP_LINE COMP_POINT=$COMP_POINT command bkctl 2>/dev/null)
    # Bash replaces only the part of the word after its last COMP_WORDBREAKS character; bkctl
    # answers whole words (after '='), so a word with ':' (arn:aws:eks:... contexts) loses the
    # part bash keeps.
    local word=${COMP_LINE:0:COMP_POINT}
    word=${word##*[[:space:]]}
    word=${word##*=}
    if [[ $word == *:* && $COMP_WORDBREAKS == *:* ]]; then
        local kept=${word%"${word##*:}"} i
        for i in "${!COMPREPLY[@]}"; do
            COMPREPLY[i]=${COMPREPLY[i]#"$kept"}
        done
    fi
}
complete -o default -F _bkctl bkctl
`
	zshCompletion = `#compdef bkctl
# zsh completion for bkctl. Saved as _bkctl in a directory of $fpath, compinit loads it on
# first use; sourced after compinit (source <(bkctl completion zsh)), it registers itself.

_bkctl() {
    local line="${(j: :)words[1,CURRENT-1]} $IPREFIX$PREFIX" point
    () { setopt localoptions nomultibyte; point=${#line} }
    local -a candidates
    candidates=("${(@f)$(COMP_LINE=$line COMP_POINT=$point command bkctl 2>/dev/null)}")
    candidates=(${candidates:#})
    # bkctl completes what follows the last '=' of the word (--context=NAME)
    [[ $PREFIX == *=* ]] && compset -P '*='
    if (( ${#candidates} )); then
        compadd -- "${candidates[@]}"
    else
        _files
    fi
}

if [[ ${funcstack[1]} == _bkctl ]]; then
    # autoloaded from $fpath: this file is the body of _bkctl, run for this completion
    _bkctl "$@"
elif (( ${+functions[compdef]} )); then
    compdef _bkctl bkctl
else
    print -u2 "bkctl completion: run 'autoload -Uz compinit && compinit' before sourcing this script"
fi
`
	fishCompletion = `# fish completion for bkctl: bkctl completion fish > ~/.config/fish/completions/bkctl.fish
function __bkctl_complete
    set -l line (commandline -cp)
    set -l token (commandline -ct)
    set -l out (COMP_LINE="$line" COMP_POINT=(printf '%s' "$line" | wc -c) command bkctl 2>/dev/null)
    if test (count $out) -eq 0
        __fish_complete_path "$token"
        return
    end
    # bkctl completes what follows the last '=' of the word (--context=NAME)
    set -l kept (string match -r -- '^.*=' "$token")
    if set -q kept[1]
        set out $kept$out
    end
    printf '%s\n' $out
end
complete -c bkctl -f -a '(__bkctl_complete)'
`
)
