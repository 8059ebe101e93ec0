# The targets of `make demo`'s bake: four variants of examples/hello, each for two platforms.
# `bkctl bake` spreads them over each node's pods (and sends a target back to its pod next time);
# `docker buildx bake` reads the same file.
variable "BASE" {
  # a named context for `FROM base`: busybox in a local OCI layout (make demo sets it)
  default = "docker-image://busybox:latest"
}
variable "REGISTRY" {
  default = "localhost:5000"
}
group "default" {
  targets = ["hello"]
}
target "hello" {
  name      = "hello-${variant}"
  matrix    = { variant = ["a", "b", "c", "d"] }
  context   = "."
  contexts  = { base = BASE }
  args      = { VARIANT = variant }
  platforms = ["linux/amd64", "linux/arm64"]
  tags      = ["${REGISTRY}/demo/hello-${variant}:latest"]
  output    = ["type=registry,registry.insecure=true"]
}
