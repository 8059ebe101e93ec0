// Package buildrun runs BuildKit builds on the pods of a builder, routing each platform to a node that builds it.
package buildrun
