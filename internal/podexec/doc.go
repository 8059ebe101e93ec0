// Package podexec reaches the buildkitd of a builder pod by exec of `buildctl dial-stdio` in it: the transport, the dialer of BuildKit clients, and the connection over the exec stream.
package podexec
