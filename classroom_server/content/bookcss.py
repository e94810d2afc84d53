"""A book's own stylesheet, made safe to apply inside our page (tinycss2 parses it).

What is kept: ordinary rules, `@media`, `@supports`, `@font-face` and `@import` of the book's own
files (inlined), `url()` of the book's own files. What is removed: addresses outside the pack,
`!important`, fixed positioning (it could cover our page), absolute font sizes (the reader's text
size must win), `expression()`/`behavior`/`-moz-binding` (old ways to run code). `html` and `body`
in selectors mean the chapter's box; `-epub-writing-mode` becomes `writing-mode`.

Everything comes out inside `@layer book { @scope (.book-body) { ... } }`: scoped to the chapter,
and in a cascade layer, so any rule of our own stylesheet (text size, contrast) wins over the book's.
A document's style="..." attributes (given as `inline` rules) come out in a layer after that one,
so they beat the book's stylesheets as they do in the book.
"""
from __future__ import annotations

import posixpath
from typing import Callable, Iterable
from urllib.parse import unquote, urlsplit

import tinycss2
from tinycss2 import ast

SCOPE = ".book-body"
INLINE_LAYER = "book-style-attributes"
DROPPED_PROPERTIES = {"behavior", "-moz-binding", "-ms-behavior"}
RENAMED = {"-epub-writing-mode": "writing-mode", "-webkit-writing-mode": "writing-mode",
           "-epub-text-orientation": "text-orientation", "-webkit-text-orientation": "text-orientation",
           "-epub-text-combine-upright": "text-combine-upright", "-webkit-text-combine": "text-combine-upright",
           "-epub-hyphens": "hyphens"}
ABSOLUTE_UNITS = {"px", "pt", "pc", "cm", "mm", "in", "q"}
ABSOLUTE_SIZES = {"xx-small", "x-small", "small", "medium", "large", "x-large", "xx-large", "xxx-large"}
CODE_FUNCTIONS = {"expression", "javascript", "image-set", "-webkit-image-set", "element", "src", "image"}
MAX_IMPORT_DEPTH = 4


def _tokens(nodes) -> list:
    """All component values, descending into blocks and functions."""
    for node in nodes or ():
        yield node
        if isinstance(node, (ast.FunctionBlock, ast.SquareBracketsBlock, ast.ParenthesesBlock,
                             ast.CurlyBracketsBlock)):
            yield from _tokens(node.arguments if isinstance(node, ast.FunctionBlock) else node.content)


class _Sanitizer:
    def __init__(self, css_path: str, read: Callable[[str], str | None], url: Callable[[str], str]):
        self.css_path = css_path
        self.read = read  # pack path -> CSS text, or None
        self.url = url  # pack path -> the URL a browser fetches it by
        self.fonts: list[str] = []

    def local(self, reference: str, base: str) -> str | None:
        parts = urlsplit(reference.strip())
        if parts.scheme or parts.netloc or not parts.path:
            return None
        path = posixpath.normpath(posixpath.join(posixpath.dirname(base), unquote(parts.path)))
        if path.startswith("../") or path in ("..", "."):
            return None
        return path

    def url_token(self, node, path: str) -> ast.URLToken:
        address = self.url(path)  # percent-escaped: no quotes, spaces or parentheses left
        return ast.URLToken(node.source_line, node.source_column, address, f"url({address})")

    def value(self, nodes: list, base: str) -> list | None:
        """A declaration's value with its url()s resolved, or None if it must go."""
        out = []
        for node in nodes:
            if isinstance(node, ast.URLToken):
                path = self.local(node.value, base)
                if path is None:
                    return None
                out.append(self.url_token(node, path))
                continue
            if isinstance(node, ast.FunctionBlock):
                name = node.lower_name
                if name in CODE_FUNCTIONS:
                    return None
                if name == "url":
                    strings = [t for t in node.arguments if isinstance(t, ast.StringToken)]
                    path = self.local(strings[0].value, base) if len(strings) == 1 else None
                    if path is None:
                        return None
                    out.append(self.url_token(node, path))
                    continue
                arguments = self.value(node.arguments, base)
                if arguments is None:
                    return None
                out.append(ast.FunctionBlock(node.source_line, node.source_column, node.name, arguments))
                continue
            out.append(node)
        return out

    def declarations(self, content: list, base: str) -> str:
        kept = []
        for declaration in tinycss2.parse_blocks_contents(content, skip_comments=True, skip_whitespace=True):
            if not isinstance(declaration, ast.Declaration):
                continue  # nested rules (CSS nesting) are left out
            name = RENAMED.get(declaration.lower_name, declaration.lower_name)
            if name in DROPPED_PROPERTIES:
                continue
            if any(isinstance(t, ast.CurlyBracketsBlock) or (isinstance(t, ast.LiteralToken) and t.value in "{}")
                   for t in _tokens(declaration.value)):
                continue  # a brace in a value (style="color:red} body{...") could end our rule
            words = [t for t in declaration.value if not isinstance(t, (ast.WhitespaceToken, ast.Comment))]
            if name == "position" and any(getattr(t, "lower_value", "") in ("fixed", "sticky") for t in words):
                continue
            if name == "font-size" and any(
                    (isinstance(t, ast.DimensionToken) and t.lower_unit in ABSOLUTE_UNITS)
                    or getattr(t, "lower_value", None) in ABSOLUTE_SIZES for t in words):
                continue
            value = self.value(declaration.value, base)
            if value is None:
                continue
            kept.append(f"{name}:{tinycss2.serialize(value).strip()}")
        return ";".join(kept)

    def selector(self, prelude: list) -> str | None:
        """The selector with `html`/`body` as the chapter's box (`:scope`)."""
        out = []
        previous = None
        for token in prelude:
            if isinstance(token, ast.IdentToken) and token.lower_value in ("html", "body") and not (
                    isinstance(previous, ast.LiteralToken) and previous.value in (".", ":", "::")):
                out.append(":scope")
            else:
                out.append(tinycss2.serialize([token]))
            previous = token
        text = "".join(out).strip()
        return text or None

    def rules(self, rules: list, base: str, depth: int = 0) -> tuple[list[str], list[str]]:
        """(rules for inside the scope, @font-face rules for outside)."""
        inside: list[str] = []
        fonts: list[str] = []
        for rule in rules:
            if isinstance(rule, ast.QualifiedRule):
                selector = self.selector(rule.prelude)
                body = self.declarations(rule.content, base)
                if selector and body:
                    inside.append(f"{selector}{{{body}}}")
            elif isinstance(rule, ast.AtRule):
                keyword = rule.lower_at_keyword
                if keyword in ("media", "supports") and rule.content is not None:
                    nested, nested_fonts = self.rules(tinycss2.parse_blocks_contents(
                        rule.content, skip_comments=True, skip_whitespace=True), base, depth)
                    fonts += nested_fonts
                    if nested and not any(isinstance(t, (ast.URLToken, ast.FunctionBlock)) and
                                          getattr(t, "lower_name", "") == "url" for t in _tokens(rule.prelude)):
                        inside.append(f"@{keyword} {tinycss2.serialize(rule.prelude).strip()}{{{''.join(nested)}}}")
                elif keyword == "font-face" and rule.content is not None:
                    body = self.declarations(rule.content, base)
                    if "src:" in body:
                        fonts.append(f"@font-face{{{body}}}")
                elif keyword == "import" and depth < MAX_IMPORT_DEPTH:
                    reference = next((t.value for t in rule.prelude
                                      if isinstance(t, (ast.URLToken, ast.StringToken))), None)
                    if reference is None:
                        reference = next((t.arguments[0].value for t in rule.prelude if isinstance(t, ast.FunctionBlock)
                                          and t.lower_name == "url" and t.arguments
                                          and isinstance(t.arguments[0], ast.StringToken)), None)
                    path = self.local(reference, base) if reference else None
                    text = self.read(path) if path else None
                    if text is not None:
                        nested, nested_fonts = self.rules(tinycss2.parse_stylesheet(
                            text, skip_comments=True, skip_whitespace=True), path, depth + 1)
                        inside += nested
                        fonts += nested_fonts
                # @charset, @namespace, @page, @keyframes and the rest: left out
        return inside, fonts


def sanitize(css: str, css_path: str, read: Callable[[str], str | None], url: Callable[[str], str],
             inline: Iterable[tuple[str, str]] = ()) -> str:
    """The stylesheet at `css_path` (a pack path) safe for the reader; `read(pack path)` gives an
    imported stylesheet's text (or None), `url(pack path)` the address of a font or picture.
    `inline`: (selector, the declarations of a style="..." attribute) pairs, cleaned the same way."""
    sanitizer = _Sanitizer(css_path, read, url)
    inside, fonts = sanitizer.rules(tinycss2.parse_stylesheet(css, skip_comments=True, skip_whitespace=True),
                                    css_path)
    attributes = []
    for selector, declarations in inline:
        body = sanitizer.declarations(declarations, css_path)
        if body:
            attributes.append(f"{selector}{{{body}}}")
    out = "".join(f + "\n" for f in fonts) + f"@layer book{{@scope ({SCOPE}){{\n" + "\n".join(inside) + "\n}}\n"
    if attributes:
        # style="..." beats the book's stylesheets whatever their selectors, as in the book: a layer
        # after theirs (still under our own, unlayered, text size and contrast)
        out = f"@layer book, {INLINE_LAYER};\n" + out + f"@layer {INLINE_LAYER}{{@scope ({SCOPE}){{\n" + \
            "\n".join(attributes) + "\n}}\n"
    return out
