package manifest

// Load reads every path: a file, a directory (recursively, .yaml/.yml/.json)
// or "-" for standard input. The first unreadable document stops loading
// with a *ParseError naming its file and line.
func Load(paths []string, opts Options) (*Set, error) {
	sources, skipped, err := Collect(paths, opts)
	if err != nil {
		return nil, err
	}
	set, err := Parse(sources, opts)
	if err != nil {
		return nil, err
	}
	set.Skipped = append(skipped, set.Skipped...)
	return set, nil
}
