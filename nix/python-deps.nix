# The Python libraries hivetui needs at run time, as a function of a Python
# package set. One list, used by the package and by the dev shell; it mirrors
# `[project.dependencies]` in ../pyproject.toml.
ps: with ps; [
  click
  textual
  asyncssh
  aiosqlite
  pexpect
  ptyprocess
  mcp
  pydantic
  pydantic-settings
  xdg-base-dirs
  pyte
  textual-plotext
  uvicorn
  httptools
]
