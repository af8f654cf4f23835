//! Field-by-field checks shared by encode and decode, so a sender cannot produce what a
//! receiver would refuse.

use crate::{Body, Content, ContentError, Limits, ReceiptKind};

/// Checks `content` against `limits` and the schema's rules.
pub(crate) fn check(content: &Content, limits: &Limits) -> Result<(), ContentError> {
    if let Some(group) = &content.group {
        if !(16..=32).contains(&group.id.len()) {
            return Err(ContentError::WrongLength {
                field: "GroupContext.id",
                len: group.id.len(),
                expected: "16 to 32 bytes",
            });
        }
    }
    let text =
        |field, value: &str| bounded(field, value.len(), limits.max_text_bytes, "max_text_bytes");
    let reference = |field, value: &str| {
        bounded(
            field,
            value.len(),
            limits.max_reference_bytes,
            "max_reference_bytes",
        )
    };
    let target = |field, value: &str| {
        if value.is_empty() {
            return Err(ContentError::EmptyField { field });
        }
        reference(field, value)
    };
    match content.body.as_ref().ok_or(ContentError::UnknownBody)? {
        Body::Text(message) => {
            text("Text.body", &message.body)?;
            if let Some(quote) = &message.reply_to {
                target("Quote.message_id", &quote.message_id)?;
                reference("Quote.author", &quote.author)?;
                text("Quote.snippet", &quote.snippet)?;
            }
        }
        Body::Reaction(reaction) => {
            target("Reaction.target_id", &reaction.target_id)?;
            reference("Reaction.target_author", &reaction.target_author)?;
            if reaction.emoji.is_empty() {
                return Err(ContentError::EmptyField {
                    field: "Reaction.emoji",
                });
            }
            bounded(
                "Reaction.emoji",
                reaction.emoji.len(),
                limits.max_emoji_bytes,
                "max_emoji_bytes",
            )?;
        }
        Body::Edit(edit) => {
            target("Edit.target_id", &edit.target_id)?;
            text("Edit.body", &edit.body)?;
        }
        Body::Delete(delete) => target("Delete.target_id", &delete.target_id)?,
        Body::Receipt(receipt) => {
            ReceiptKind::try_from(receipt.kind)
                .map_err(|_| ContentError::UnknownReceiptKind(receipt.kind))?;
            if receipt.message_ids.len() > limits.max_receipt_ids {
                return Err(ContentError::TooManyReceiptIds {
                    count: receipt.message_ids.len(),
                    limit: limits.max_receipt_ids,
                });
            }
            if receipt.message_ids.is_empty() {
                return Err(ContentError::EmptyField {
                    field: "Receipt.message_ids",
                });
            }
            for id in &receipt.message_ids {
                target("Receipt.message_ids", id)?;
            }
        }
        Body::Typing(_) => {}
        Body::Attachment(file) => {
            target("Attachment.url", &file.url)?;
            if !file.url.starts_with("https://") {
                return Err(ContentError::AttachmentNotHttps);
            }
            exact("Attachment.key", file.key.len())?;
            exact("Attachment.ciphertext_sha256", file.ciphertext_sha256.len())?;
            exact("Attachment.plaintext_sha256", file.plaintext_sha256.len())?;
            reference("Attachment.content_type", &file.content_type)?;
            reference("Attachment.file_name", &file.file_name)?;
            text("Attachment.caption", &file.caption)?;
            bounded(
                "Attachment.thumbnail",
                file.thumbnail.len(),
                limits.max_thumbnail_bytes,
                "max_thumbnail_bytes",
            )?;
        }
        Body::GroupUpdate(_) => {}
        Body::Call(call) => target("CallSignal.call_id", &call.call_id)?,
    }
    Ok(())
}

fn bounded(
    field: &'static str,
    len: usize,
    limit: usize,
    knob: &'static str,
) -> Result<(), ContentError> {
    if len > limit {
        return Err(ContentError::FieldTooLong {
            field,
            len,
            limit,
            knob,
        });
    }
    Ok(())
}

fn exact(field: &'static str, len: usize) -> Result<(), ContentError> {
    if len != 32 {
        return Err(ContentError::WrongLength {
            field,
            len,
            expected: "exactly 32 bytes",
        });
    }
    Ok(())
}
