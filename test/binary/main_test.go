package binary

import (
	"testing"

	"github.com/headless-guard/headless-guard/test/framework"
)

func TestMain(m *testing.M) { framework.Main(m) }
