//! The XML of the REST-XML and query protocols (S3, SNS, CloudWatch): a small writer for
//! answers and a tree reader for request bodies.

use quick_xml::events::Event;
use quick_xml::Reader;

/// Escapes text for an element or attribute.
pub fn escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&apos;"),
            '\r' => out.push_str("&#13;"),
            c => out.push(c),
        }
    }
    out
}

/// Builds an XML document element by element.
pub struct Xml {
    out: String,
    open: Vec<String>,
}

impl Xml {
    /// A document whose root element is `root` in namespace `ns`.
    pub fn new(root: &str, ns: &str) -> Xml {
        let mut out = String::from("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n");
        out.push_str(&format!("<{root} xmlns=\"{ns}\">"));
        Xml {
            out,
            open: vec![root.to_string()],
        }
    }

    /// A document without a namespace (S3 errors).
    pub fn bare(root: &str) -> Xml {
        let mut out = String::from("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n");
        out.push_str(&format!("<{root}>"));
        Xml {
            out,
            open: vec![root.to_string()],
        }
    }

    pub fn open(&mut self, tag: &str) -> &mut Xml {
        self.out.push_str(&format!("<{tag}>"));
        self.open.push(tag.to_string());
        self
    }

    pub fn close(&mut self) -> &mut Xml {
        if let Some(tag) = self.open.pop() {
            self.out.push_str(&format!("</{tag}>"));
        }
        self
    }

    /// `<tag>text</tag>`.
    pub fn text(&mut self, tag: &str, text: impl std::fmt::Display) -> &mut Xml {
        let t = escape(&text.to_string());
        self.out.push_str(&format!("<{tag}>{t}</{tag}>"));
        self
    }

    /// Appends markup that is already XML.
    pub fn raw(&mut self, xml: &str) -> &mut Xml {
        self.out.push_str(xml);
        self
    }

    /// The markup written so far inside the root (for fragments).
    pub fn fragment() -> Xml {
        Xml {
            out: String::new(),
            open: Vec::new(),
        }
    }

    /// `<tag>text</tag>` when there is a text.
    pub fn maybe(&mut self, tag: &str, text: Option<impl std::fmt::Display>) -> &mut Xml {
        if let Some(t) = text {
            self.text(tag, t);
        }
        self
    }

    pub fn finish(mut self) -> String {
        while !self.open.is_empty() {
            self.close();
        }
        self.out
    }
}

/// An element of a parsed document: its local name, its text and its child elements.
#[derive(Debug, Default, Clone)]
pub struct Element {
    pub name: String,
    pub text: String,
    pub children: Vec<Element>,
}

impl Element {
    pub fn child(&self, name: &str) -> Option<&Element> {
        self.children.iter().find(|c| c.name == name)
    }

    pub fn all<'a>(&'a self, name: &'a str) -> impl Iterator<Item = &'a Element> + 'a {
        self.children.iter().filter(move |c| c.name == name)
    }

    /// The text of child `name`.
    pub fn get(&self, name: &str) -> Option<&str> {
        self.child(name).map(|c| c.text.as_str())
    }
}

/// Parses a document into its root element; the error names the byte position.
pub fn parse(bytes: &[u8]) -> Result<Element, String> {
    let mut reader = Reader::from_reader(bytes);
    reader.config_mut().trim_text(true);
    let mut stack: Vec<Element> = vec![Element::default()];
    let mut buf = Vec::new();
    loop {
        let at = reader.buffer_position();
        let ev = reader
            .read_event_into(&mut buf)
            .map_err(|e| format!("malformed XML at byte {at}: {e}"))?;
        match ev {
            Event::Start(s) => stack.push(Element {
                name: String::from_utf8_lossy(s.local_name().as_ref()).into_owned(),
                ..Default::default()
            }),
            Event::Empty(s) => {
                let e = Element {
                    name: String::from_utf8_lossy(s.local_name().as_ref()).into_owned(),
                    ..Default::default()
                };
                if let Some(top) = stack.last_mut() {
                    top.children.push(e);
                }
            }
            Event::Text(t) => {
                let t = t
                    .decode()
                    .map_err(|e| format!("malformed XML at byte {at}: {e}"))?;
                let t = quick_xml::escape::unescape(&t)
                    .map_err(|e| format!("malformed XML at byte {at}: {e}"))?;
                if let Some(top) = stack.last_mut() {
                    top.text.push_str(&t);
                }
            }
            Event::CData(t) => {
                if let Some(top) = stack.last_mut() {
                    top.text.push_str(&String::from_utf8_lossy(&t));
                }
            }
            Event::GeneralRef(r) => {
                let name = String::from_utf8_lossy(&r).into_owned();
                let c = match name.as_str() {
                    "amp" => "&".to_string(),
                    "lt" => "<".into(),
                    "gt" => ">".into(),
                    "quot" => "\"".into(),
                    "apos" => "'".into(),
                    n => n
                        .strip_prefix("#x")
                        .and_then(|h| u32::from_str_radix(h, 16).ok())
                        .or_else(|| n.strip_prefix('#').and_then(|d| d.parse().ok()))
                        .and_then(char::from_u32)
                        .map(String::from)
                        .ok_or_else(|| {
                            format!("malformed XML at byte {at}: unknown entity &{n};")
                        })?,
                };
                if let Some(top) = stack.last_mut() {
                    top.text.push_str(&c);
                }
            }
            Event::End(_) => {
                let done = stack.pop().unwrap_or_default();
                match stack.last_mut() {
                    Some(top) => top.children.push(done),
                    None => return Err(format!("malformed XML at byte {at}: unbalanced end tag")),
                }
            }
            Event::Eof => break,
            _ => {}
        }
        buf.clear();
    }
    let doc = stack.pop().unwrap_or_default();
    if !stack.is_empty() {
        return Err("malformed XML: the document ends inside an element".into());
    }
    doc.children
        .into_iter()
        .next()
        .ok_or_else(|| "the XML document has no root element".to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn writes_and_reads_back() {
        let mut x = Xml::new("Root", "urn:x");
        x.open("Item").text("Key", "a<b&'c'").close();
        x.maybe("None", None::<&str>).text("N", 3);
        let doc = x.finish();
        assert!(doc.ends_with("<Item><Key>a&lt;b&amp;&apos;c&apos;</Key></Item><N>3</N></Root>"));
        let e = parse(doc.as_bytes()).unwrap();
        assert_eq!(e.name, "Root");
        assert_eq!(e.child("Item").and_then(|i| i.get("Key")), Some("a<b&'c'"));
        assert_eq!(e.get("N"), Some("3"));
    }

    #[test]
    fn bad_documents_are_errors() {
        assert!(parse(b"<a><b></a>").is_err());
        assert!(parse(b"").is_err());
        assert!(parse(b"<a>").is_err());
        let e = parse(b"<x:Delete xmlns:x='u'><x:Quiet>true</x:Quiet><Object><Key>k&#65;</Key></Object></x:Delete>").unwrap();
        assert_eq!(e.get("Quiet"), Some("true"));
        assert_eq!(
            e.all("Object").next().and_then(|o| o.get("Key")),
            Some("kA")
        );
    }
}
