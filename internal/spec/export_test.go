package spec

// Header and AliasBomb let the external tests (FuzzParse, which also renders and so cannot be
// in package spec) reuse the fixtures of load_test.go.
const Header = header

// AliasBomb returns a billion-laughs document.
var AliasBomb = aliasBomb
