# Python libraries hivetui needs newer than nixpkgs may carry: the MCP SDK 2.x
# (with its mcp-types and httpx2/httpcore2) and textual 8. Pinned to the
# versions the test suite runs with, as pure-Python wheels from PyPI.
# Used as `python3.override { packageOverrides = import ./python-overrides.nix; }`.
final: prev:
let
  wheel =
    {
      pname,
      version,
      hash,
      dependencies,
      imports,
    }:
    final.buildPythonPackage {
      inherit pname version dependencies;
      format = "wheel";
      src = final.fetchPypi {
        inherit pname version hash;
        format = "wheel";
        dist = "py3";
        python = "py3";
      };
      # nixpkgs' versions of the dependencies may trail the wheels' lower
      # bounds by a release; hivetui's tests are the judge.
      dontCheckRuntimeDeps = true;
      pythonImportsCheck = imports;
    };
in
{
  httpcore2 = wheel {
    pname = "httpcore2";
    version = "2.16.2";
    hash = "sha256-FgUa4qQvd2AHVD8y3pNJoxeyPSy7ThRWtLrA6IuHQZo=";
    dependencies = with final; [
      h11
      truststore
    ];
    imports = [ "httpcore2" ];
  };

  httpx2 = wheel {
    pname = "httpx2";
    version = "2.16.2";
    hash = "sha256-8FwTqt5MRdvxyQYGR6EFjwrK1iOY+tludBJp7bM9RvU=";
    dependencies = with final; [
      anyio
      httpcore2
      idna
      truststore
      typing-extensions
    ];
    imports = [ "httpx2" ];
  };

  mcp-types = wheel {
    pname = "mcp_types";
    version = "2.3.0";
    hash = "sha256-lo79va7fqwatrkDTeKNDlfEJDFkh1L48nN4oOq922R0=";
    dependencies = with final; [
      pydantic
      typing-extensions
    ];
    imports = [ "mcp_types" ];
  };

  mcp = wheel {
    pname = "mcp";
    version = "2.3.0";
    hash = "sha256-3QxEwInRZFPorjGjh3oAVNeiMUyqqB9eBUG5sXNLI3c=";
    dependencies = with final; [
      anyio
      httpx2
      jsonschema
      mcp-types
      opentelemetry-api
      pydantic
      pyjwt
      cryptography # pyjwt[crypto]
      python-multipart
      sse-starlette
      starlette
      typing-extensions
      typing-inspection
      uvicorn
    ];
    imports = [ "mcp" ];
  };

  textual = wheel {
    pname = "textual";
    version = "8.2.8";
    hash = "sha256-JnN1/UAtyNmBRXIS76cfDjNl/Re7oUS6m7PtdWPLN0o=";
    dependencies = with final; [
      markdown-it-py
      linkify-it-py # markdown-it-py[linkify]
      mdit-py-plugins
      platformdirs
      pygments
      rich
      typing-extensions
    ];
    imports = [ "textual" ];
  };
}
