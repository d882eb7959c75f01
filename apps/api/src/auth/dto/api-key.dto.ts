import { ApiProperty, ApiPropertyOptional } from '@nestjs/swagger';
import { Type } from 'class-transformer';
import { ArrayMaxSize, IsArray, IsIn, IsISO8601, IsOptional, IsString, Matches, ValidateNested } from 'class-validator';
import { NAME_PATTERN, NAME_RULE } from '../../common/validators.js';
import { ROLES, type Role } from '../caller.js';

const PROJECT_OR_ALL = /^(\*|[A-Za-z0-9_-]{1,128})$/;

export class RoleGrantDto {
  @ApiProperty({ description: "A project name, or '*' for every project" })
  @IsString() @Matches(PROJECT_OR_ALL, { message: `project must be '*' or a project name that ${NAME_RULE}` })
  project!: string;

  @ApiProperty({ enum: ROLES })
  @IsIn(ROLES, { message: `role must be one of ${ROLES.join(', ')}` })
  role!: Role;
}

export class CreateApiKeyDto {
  @ApiProperty() @IsString() @Matches(/^[^\u0000-\u001f]{1,128}$/, { message: 'name must be 1-128 printable characters' })
  name!: string;

  @ApiPropertyOptional({ description: 'ISO 8601; the key stops working then' })
  @IsOptional() @IsISO8601({ strict: true }, { message: 'expiresAt must be an ISO 8601 date-time' })
  expiresAt?: string;

  @ApiPropertyOptional({ description: 'Limits the key to this project, whatever its roles say' })
  @IsOptional() @IsString() @Matches(NAME_PATTERN, { message: `project ${NAME_RULE}` })
  project?: string;

  @ApiProperty({ type: [RoleGrantDto] })
  @IsArray() @ArrayMaxSize(100) @ValidateNested({ each: true }) @Type(() => RoleGrantDto)
  roles!: RoleGrantDto[];
}

export class GrantRoleDto extends RoleGrantDto {
  @ApiProperty({ description: 'key:<id>, user:<OIDC subject> or group:<OIDC group>' })
  @IsString() @Matches(/^(key|user|group):[^\u0000-\u001f]{1,256}$/, { message: 'subject must be key:<id>, user:<subject> or group:<name>' })
  subject!: string;
}

export { PageQuery } from '../../common/page.js';

export class RoleBindingView {
  @ApiProperty() subject!: string;
  @ApiProperty() project!: string;
  @ApiProperty({ enum: ROLES }) role!: Role;
  @ApiProperty() createdAt!: string;
}

export class ApiKeyView {
  @ApiProperty() id!: string;
  @ApiProperty() name!: string;
  @ApiPropertyOptional({ type: String, nullable: true }) project!: string | null;
  @ApiProperty({ type: [RoleGrantDto] }) roles!: RoleGrantDto[];
  @ApiProperty() createdAt!: string;
  @ApiPropertyOptional({ type: String, nullable: true }) createdBy!: string | null;
  @ApiPropertyOptional({ type: String, nullable: true }) expiresAt!: string | null;
  @ApiPropertyOptional({ type: String, nullable: true }) lastUsedAt!: string | null;
  @ApiPropertyOptional({ type: String, nullable: true }) revokedAt!: string | null;
}

export class CreatedApiKeyView extends ApiKeyView {
  @ApiProperty({ description: 'The key itself, shown this once: only its hash is kept' }) key!: string;
}

export class ApiKeyListView {
  @ApiProperty({ type: [ApiKeyView] }) items!: ApiKeyView[];
  @ApiPropertyOptional({ type: String, nullable: true }) nextCursor!: string | null;
}

export class RoleBindingListView {
  @ApiProperty({ type: [RoleBindingView] }) items!: RoleBindingView[];
  @ApiPropertyOptional({ type: String, nullable: true }) nextCursor!: string | null;
}

export class AuditEntryView {
  @ApiProperty() id!: string;
  @ApiProperty() at!: string;
  @ApiPropertyOptional({ type: String, nullable: true, description: 'key:<id> or user:<subject>; null when unauthenticated' }) actor!: string | null;
  @ApiProperty() method!: string;
  @ApiProperty() path!: string;
  @ApiProperty() status!: number;
  @ApiPropertyOptional({ type: String, nullable: true }) address!: string | null;
}

export class AuditLogView {
  @ApiProperty({ type: [AuditEntryView] }) items!: AuditEntryView[];
  @ApiPropertyOptional({ type: String, nullable: true }) nextCursor!: string | null;
}

export class WhoAmIView {
  @ApiProperty() id!: string;
  @ApiProperty({ type: [RoleGrantDto] }) roles!: RoleGrantDto[];
}
