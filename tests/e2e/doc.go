// Package e2e holds the end-to-end tests against a real local control plane.
package e2e
