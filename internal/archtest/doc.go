// Package archtest holds the tests that keep the project's shape: the
// package floors of docs/architecture.md (a package imports only packages
// on floors below its own) and import groups as goimports writes them. It
// has no code of its own. It also bounds function length (100 lines).
package archtest
