package report

import (
	"fmt"

	"github.com/headless-guard/headless-guard/rules"
)

// The reasons of notices: stable identifiers, like rule IDs, for scripts
// and SARIF.
const (
	// NoticeDuplicateKey: a key is set twice in a mapping; kubectl keeps
	// the last value, and so does the checker.
	NoticeDuplicateKey = "duplicate-key"
	// NoticeDuplicateObject: an object is defined twice in the input; the
	// definition applied last is the one checked.
	NoticeDuplicateObject = "duplicate-object"
	// NoticeNotChecked: an object looks like a workload, but its kind or
	// version is not one the rules evaluate.
	NoticeNotChecked = "not-checked"
	// NoticeUnknownSkip: the headless-guard.io/skip annotation names a rule
	// that does not exist; it skips nothing.
	NoticeUnknownSkip = "unknown-skip"
)

// noticeHelp describes each reason for SARIF's rule descriptors.
var noticeHelp = map[string]struct{ summary, remediation string }{
	NoticeDuplicateKey: {
		"a key is set twice in a mapping; kubectl keeps the last value",
		"Remove the occurrence kubectl ignores (the first), so that the manifest reads as it applies.",
	},
	NoticeDuplicateObject: {
		"an object is defined twice in the input; the definition applied last is the one checked",
		"Keep one definition of the object, or give the copies different names or namespaces.",
	},
	NoticeUnknownSkip: {
		"the headless-guard.io/skip annotation names no rule, so it skips nothing",
		"Name rule IDs (`HG004`) or `all` in `headless-guard.io/skip`.",
	},
	NoticeNotChecked: {
		"an object that looks like a workload is of a kind or version the rules do not evaluate",
		"Use an API version the API server serves and headless-guard evaluates (`apps/v1`, `batch/v1`, `v1`).",
	},
}

// Notice is something of the input that no rule reports and a reader must
// not miss: what kubectl reads without a word (a key set twice), an object
// defined twice, an object the rules did not evaluate. Notices are
// warnings: they never change the exit status.
type Notice struct {
	// Reason is one of the Notice* constants.
	Reason string
	// Object is the object the notice is about; zero when there is none.
	Object rules.ObjectRef
	// Location is where the notice is.
	Location
	// Related are the other places the message names: the other
	// definition, the first of two keys.
	Related []Location
	// Field is the key path of a duplicate key: with Reason and Object it
	// identifies the notice wherever it moves in the input.
	Field string
	// Message says what and why, in the style of a finding's detail.
	Message string
}

// noticeLine is the one-line form of a notice without its position:
// `warn duplicate-object: Service default/db: …`.
func noticeLine(n Notice) string {
	if n.Object == (rules.ObjectRef{}) {
		return fmt.Sprintf("warn %s: %s", n.Reason, n.Message)
	}
	return fmt.Sprintf("warn %s: %s: %s", n.Reason, n.Object, n.Message)
}
