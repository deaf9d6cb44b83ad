package jit

// ExportAbout names the session or request m is about, as the helper does.
func ExportAbout(m Message, id string) Message { return m.about(id) }
