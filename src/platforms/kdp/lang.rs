//! The languages of KDP reports. KDP writes every sheet name, header and transaction type in
//! the account's language (FORMATS §10). English and Spanish are read: Spanish names are mapped
//! to the English ones and the English logic runs on them. A workbook mixing the two is refused,
//! and a report in another language is refused naming that language.

use std::borrow::Cow;

/// A language salesingest reads KDP reports in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Lang {
    English,
    Spanish,
}

/// English sheet names of every KDP layout (compared trimmed, case-insensitively).
const EN_SHEETS: [&str; 16] = [
    "Report Definitions",
    "Summary",
    "Combined Sales",
    "eBook Royalty",
    "Paperback Royalty",
    "Hardcover Royalty",
    "Orders Processed",
    "eBook Orders Placed",
    "KENP Read",
    "Total Earnings",
    "Total Royalty",
    "eBook Royalty Report",
    "Combined Royalty Report",
    "Payments",
    "Audiobook Royalty",
    "Orders",
];

/// Spanish sheet names (FORMATS §10.1, §10.4) → English. `Regalías de los libros de tapa` is
/// `…tapa dura` cut by Excel at 31 characters (the tab keeps a trailing space; names are
/// compared trimmed); the uncut name is accepted too.
const ES_SHEETS: [(&str, &str); 11] = [
    ("Definiciones del informe", "Report Definitions"),
    ("Resumen", "Summary"),
    ("Ventas combinadas", "Combined Sales"),
    ("Regalías de eBooks", "eBook Royalty"),
    ("Regalías de libros impresos", "Paperback Royalty"),
    ("Regalías de los libros de tapa", "Hardcover Royalty"),
    ("Regalías de los libros de tapa dura", "Hardcover Royalty"),
    ("Pedidos procesados", "Orders Processed"),
    ("Pedidos completados de eBooks", "eBook Orders Placed"),
    ("KENP leídas", "KENP Read"),
    ("Ganancias totales", "Total Earnings"),
];

/// English header names that say "English" (names shared by every language, such as `ASIN`,
/// `ISBN` or `KENP`, are left out).
const EN_HEADERS: [&str; 38] = [
    "Royalty Date",
    "Order Date",
    "Title",
    "Author Name",
    "Author",
    "Marketplace",
    "Royalty Type",
    "Transaction Type",
    "Transaction Type*",
    "Units Sold",
    "Units Refunded",
    "Net Units Sold",
    "Avg. List Price without tax",
    "Avg. Offer Price without tax",
    "Avg. File Size (MB)",
    "Avg. Delivery Cost",
    "Avg. Manufacturing Cost",
    "Avg. Delivery/Manufacturing cost",
    "Royalty",
    "Currency",
    "Earnings",
    "Payout Plan",
    "Net Units Sold or KENP Read**",
    "Net Units Sold or Combined KENP",
    "Net Units Sold or KENP Read",
    "Date",
    "Paid Units",
    "Free Units",
    "Kindle Edition Normalized Page (KENP) Read",
    "Paid Units Sold (eBook)",
    "Free Units Sold (eBook)",
    "Net Units Sold (Paperback)",
    "Net Units Sold (Hardcover)",
    "KOLL Borrows",
    "Report",
    "Definition",
    "Sales Period",
    "Sales report for the period",
];

/// Spanish headers and labels (FORMATS §10.2, §10.4) → English. `Regalías (USD)` and the other
/// currency columns of `Resumen` are mapped by `english_header`.
const ES_HEADERS: [(&str, &str); 37] = [
    ("Fecha", "Date"),
    ("Unidades netas vendidas (eBook)", "Paid Units Sold (eBook)"),
    (
        "Unidades gratuitas vendidas (eBook)",
        "Free Units Sold (eBook)",
    ),
    (
        "Unidades netas vendidas (Tapa blanda)",
        "Net Units Sold (Paperback)",
    ),
    (
        "Unidades netas vendidas (tapa dura)",
        "Net Units Sold (Hardcover)",
    ),
    ("Préstamos de KOLL", "KOLL Borrows"),
    (
        "Páginas KENP leídas",
        "Kindle Edition Normalized Page (KENP) Read",
    ),
    ("Fecha de las regalías", "Royalty Date"),
    ("Fecha de pedido", "Order Date"),
    ("Título", "Title"),
    ("Nombre del autor", "Author Name"),
    ("Autor", "Author"),
    ("Tienda", "Marketplace"),
    ("Tipo de regalía", "Royalty Type"),
    ("Tipo de transacción", "Transaction Type"),
    ("Unidades vendidas", "Units Sold"),
    ("Unidades devueltas", "Units Refunded"),
    ("Unidades netas vendidas", "Net Units Sold"),
    (
        "Precio de lista medio sin impuestos",
        "Avg. List Price without tax",
    ),
    (
        "Precio de oferta medio sin impuestos",
        "Avg. Offer Price without tax",
    ),
    ("Tamaño medio del archivo (MB)", "Avg. File Size (MB)"),
    ("Gasto medio de envío", "Avg. Delivery Cost"),
    ("Gasto de producción medio", "Avg. Manufacturing Cost"),
    (
        "Gasto medio de entrega/producción",
        "Avg. Delivery/Manufacturing cost",
    ),
    ("Regalías", "Royalty"),
    ("Moneda", "Currency"),
    ("Unidades pagadas", "Paid Units"),
    ("Unidades gratuitas", "Free Units"),
    ("Informar", "Report"),
    ("Definición", "Definition"),
    ("Periodo de ventas", "Sales Period"),
    (
        "Unidades netas vendidas o páginas KENP leídas**",
        "Net Units Sold or KENP Read**",
    ),
    (
        "Unidades netas vendidas o páginas KENP leídas",
        "Net Units Sold or KENP Read",
    ),
    ("Plan de pago", "Payout Plan"),
    ("Ganancias", "Earnings"),
    ("Fecha de regalías", "Royalty Date"),
    ("Tipo de transaccion", "Transaction Type"),
];

/// Spanish transaction types and payout plans (FORMATS §10.3, §10.4) → English. Any value
/// starting `Promoción` is a free download (`english_value`).
const ES_VALUES: [(&str, &str); 5] = [
    ("Estándar", "Standard"),
    ("Estándar - eBook", "Standard"),
    ("Estándar - Tapa blanda", "Standard - Paperback"),
    ("Estándar - Tapa dura", "Standard - Hardcover"),
    (
        "Páginas KENP leídas",
        "Kindle Edition Normalized Page (KENP) Read",
    ),
];

/// Lower-case Spanish month names, January first (`setiembre` is a common spelling too).
pub(super) const ES_MONTHS: [&str; 12] = [
    "enero",
    "febrero",
    "marzo",
    "abril",
    "mayo",
    "junio",
    "julio",
    "agosto",
    "septiembre",
    "octubre",
    "noviembre",
    "diciembre",
];

/// Words that only a report in one of the languages KDP also writes would hold, lower case,
/// matched inside sheet names and header cells.
const FOREIGN: [(&str, &[&str]); 5] = [
    (
        "German",
        &[
            "tantieme",
            "lizenzgebühr",
            "marktplatz",
            "währung",
            "einheiten",
            "verkauf",
            "zusammenfassung",
            "gelesene",
            "datum",
            "autorname",
            "name des autors",
        ],
    ),
    (
        "French",
        &[
            "redevance",
            "devise",
            "place de marché",
            "unités",
            "vendues",
            "titre",
            "auteur",
            "résumé",
            "pages kenp lues",
            "ventes",
        ],
    ),
    (
        "Italian",
        &[
            "titolo",
            "unità",
            "vendute",
            "autore",
            "riepilogo",
            "pagine",
            "negozio",
            "data delle royalty",
            "valuta",
        ],
    ),
    (
        "Portuguese",
        &[
            "moeda",
            "loja",
            "vendas",
            "lidas",
            "resumo",
            "devolvidas",
            "reembolsadas",
            "nome do autor",
        ],
    ),
    (
        "Dutch",
        &[
            "marktplaats",
            "verkocht",
            "eenheden",
            "samenvatting",
            "gelezen",
            "auteursnaam",
        ],
    ),
];

fn eq(a: &str, b: &str) -> bool {
    a.trim().to_lowercase() == b.to_lowercase()
}

/// The language and English name of a known KDP sheet name (trimmed, any case); `None` for a
/// name of no known layout (an author's own sheet, a CSV copy) or one every language shares.
pub(super) fn sheet_name(name: &str) -> Option<(Lang, &'static str)> {
    if let Some(en) = EN_SHEETS.iter().find(|n| eq(name, n)) {
        return Some((Lang::English, en));
    }
    ES_SHEETS
        .iter()
        .find(|(es, _)| eq(name, es))
        .map(|(_, en)| (Lang::Spanish, *en))
}

/// The English name of a header cell (already trimmed): Spanish names are mapped, every other
/// cell is returned as it is.
pub(super) fn english_header(cell: &str) -> Cow<'_, str> {
    if let Some((_, en)) = ES_HEADERS.iter().find(|(es, _)| *es == cell) {
        return Cow::Borrowed(en);
    }
    if let Some(code) = cell
        .strip_prefix("Regalías (")
        .and_then(|r| r.strip_suffix(')'))
    {
        return Cow::Owned(format!("Royalty ({code})"));
    }
    Cow::Borrowed(cell)
}

/// The Spanish name of an English header, for messages about a Spanish sheet.
pub(super) fn spanish_header(en: &str) -> Option<&'static str> {
    ES_HEADERS.iter().find(|(_, e)| *e == en).map(|(es, _)| *es)
}

/// The language a header cell is written in, when it says (`None` for names every language
/// shares and for cells that are no known header).
pub(super) fn header_lang(cell: &str) -> Option<Lang> {
    if ES_HEADERS.iter().any(|(es, _)| *es == cell)
        || (cell.starts_with("Regalías (") && cell.ends_with(')'))
    {
        return Some(Lang::Spanish);
    }
    if EN_HEADERS.contains(&cell) || (cell.starts_with("Royalty (") && cell.ends_with(')')) {
        return Some(Lang::English);
    }
    None
}

/// The English form of a transaction type or payout plan, for classifying the row (the raw row
/// keeps the text as written).
pub(super) fn english_value(text: &str) -> Cow<'_, str> {
    let t = text.trim();
    if let Some((_, en)) = ES_VALUES.iter().find(|(es, _)| eq(t, es)) {
        return Cow::Borrowed(en);
    }
    if t.to_lowercase().starts_with("promoción") || t.to_lowercase().starts_with("promocion") {
        return Cow::Borrowed("Free - Promotion");
    }
    Cow::Borrowed(t)
}

/// The month (1–12) of a lower-case Spanish month name.
pub(super) fn spanish_month(tok: &str) -> Option<u32> {
    let t = tok.to_lowercase();
    if t == "setiembre" {
        return Some(9);
    }
    ES_MONTHS
        .iter()
        .position(|m| *m == t)
        .and_then(|i| u32::try_from(i + 1).ok())
}

/// The language, other than English and Spanish, that a sheet name and header row are written
/// in, when at least two of their cells say so (or any cell is in Japanese script).
pub(super) fn foreign(cells: &[&str]) -> Option<&'static str> {
    let japanese = cells.iter().any(|c| {
        c.chars()
            .any(|ch| matches!(ch as u32, 0x3040..=0x30FF | 0x4E00..=0x9FFF | 0xFF66..=0xFF9F))
    });
    if japanese {
        return Some("Japanese");
    }
    let lower: Vec<String> = cells.iter().map(|c| c.trim().to_lowercase()).collect();
    let mut best: Option<(&'static str, usize)> = None;
    for (lang, words) in FOREIGN {
        let hits = lower
            .iter()
            .filter(|c| !c.is_empty() && words.iter().any(|w| c.contains(w)))
            .count();
        if hits >= 2 && best.is_none_or(|(_, b)| hits > b) {
            best = Some((lang, hits));
        }
    }
    best.map(|(lang, _)| lang)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn spanish_names_map_to_english_ones() {
        assert_eq!(
            sheet_name("Regalías de los libros de tapa "),
            Some((Lang::Spanish, "Hardcover Royalty"))
        );
        assert_eq!(
            sheet_name("KENP leídas"),
            Some((Lang::Spanish, "KENP Read"))
        );
        assert_eq!(
            sheet_name(" ebook royalty"),
            Some((Lang::English, "eBook Royalty"))
        );
        assert_eq!(sheet_name("Notes"), None);
        assert_eq!(english_header("Tienda"), "Marketplace");
        assert_eq!(english_header("Regalías (MXN)"), "Royalty (MXN)");
        assert_eq!(english_header("ASIN"), "ASIN");
        assert_eq!(header_lang("ASIN"), None);
        assert_eq!(header_lang("Moneda"), Some(Lang::Spanish));
        assert_eq!(header_lang("Currency"), Some(Lang::English));
        assert_eq!(english_value("Promoción gratuita"), "Free - Promotion");
        assert_eq!(
            english_value("Estándar - Tapa dura"),
            "Standard - Hardcover"
        );
        assert_eq!(
            english_value("Kindle Countdown Deals"),
            "Kindle Countdown Deals"
        );
        assert_eq!(spanish_month("octubre"), Some(10));
        assert_eq!(spanish_month("Octubre"), Some(10));
        assert_eq!(spanish_month("oct"), None);
    }

    #[test]
    fn other_languages_are_named() {
        let de = [
            "Tantiemendatum",
            "Titel",
            "ASIN",
            "Marktplatz",
            "Tantiemen",
            "Währung",
        ];
        assert_eq!(foreign(&de), Some("German"));
        let fr = ["Date de redevance", "Titre", "Place de marché", "Devise"];
        assert_eq!(foreign(&fr), Some("French"));
        assert_eq!(foreign(&["日付", "タイトル"]), Some("Japanese"));
        assert_eq!(foreign(&["Start Date", "Title", "Units"]), None);
        // One stray word is not a language.
        assert_eq!(foreign(&["Notes", "Datum"]), None);
    }
}
