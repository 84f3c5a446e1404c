"""The Discord front end: the agent loop and tools of `assistant chat`, in DMs, one server and threads."""
