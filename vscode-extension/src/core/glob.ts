/** Glob patterns as the model writes them (`src/**\/*.ts`, `*.{js,ts}`), compiled to a RegExp over `/` paths. */

export function globToRegExp(glob: string): RegExp {
  let pattern = glob.trim().replace(/\\/g, "/").replace(/^\.\//, "");
  if (pattern === "" || pattern === ".") pattern = "**";
  // A pattern without a slash matches at any depth, as in .gitignore.
  if (!pattern.includes("/")) pattern = `**/${pattern}`;
  let out = "";
  let braces = 0;
  for (let i = 0; i < pattern.length; i++) {
    const c = pattern[i] ?? "";
    if (c === "*") {
      if (pattern[i + 1] === "*") {
        const slashAfter = pattern[i + 2] === "/";
        out += slashAfter ? "(?:.*/)?" : ".*";
        i += slashAfter ? 2 : 1;
      } else {
        out += "[^/]*";
      }
    } else if (c === "?") {
      out += "[^/]";
    } else if (c === "{") {
      braces++;
      out += "(?:";
    } else if (c === "}" && braces > 0) {
      braces--;
      out += ")";
    } else if (c === "," && braces > 0) {
      out += "|";
    } else {
      out += c.replace(/[.+^$()|[\]\\{}]/g, "\\$&");
    }
  }
  out += ")".repeat(braces);
  return new RegExp(`^${out}$`);
}
