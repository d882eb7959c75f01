import { ApiProperty, ApiPropertyOptional } from '@nestjs/swagger';
import { NEXT_CURSOR_PROPERTY } from '../common/page.js';
import { IsOptional, IsString, Matches } from 'class-validator';
import { NAME_PATTERN, NAME_RULE } from '../common/validators.js';

export class CreateJoinTokenDto {
  @ApiPropertyOptional({ example: 'rack-3', description: 'A label for the token, unique in its pool (default: a generated one)' })
  @IsOptional()
  @IsString()
  @Matches(NAME_PATTERN, { message: `name ${NAME_RULE}` })
  name?: string;
}

export class JoinTokenView {
  @ApiProperty() id!: string;
  @ApiProperty() pool!: string;
  @ApiProperty() name!: string;
  @ApiProperty() createdAt!: string;
  @ApiPropertyOptional({ nullable: true }) rotatedAt!: string | null;
  @ApiPropertyOptional({ nullable: true }) revokedAt!: string | null;
  @ApiPropertyOptional({ nullable: true }) lastUsedAt!: string | null;
}

/** Returned once, when the token is created or rotated: the secret itself is never stored. */
export class JoinTokenSecretView extends JoinTokenView {
  @ApiProperty({ description: 'Give it to the workers as WORKER_JOIN_TOKEN; it is shown only now' }) token!: string;
}

export class JoinWorkerDto {
  @ApiProperty({ example: 'gpu-node-7', description: "The worker's id: 1-128 letters, digits, '-' or '_'" })
  @IsString()
  @Matches(/^[A-Za-z0-9_-]{1,128}$/, { message: "workerId must be 1-128 letters, digits, '-' or '_'" })
  workerId!: string;

  @ApiPropertyOptional({ example: 'default', description: "The pool it joins; must be the token's pool (default: the token's pool)" })
  @IsOptional()
  @IsString()
  pool?: string;
}

export class WorkerCredentialsView {
  @ApiProperty() workerId!: string;
  @ApiProperty() pool!: string;
  @ApiProperty({ description: 'Redis ACL user of this worker' }) redisUsername!: string;
  @ApiProperty({ description: 'Its password (new at every join: the previous one stops working)' }) redisPassword!: string;
  @ApiProperty({ description: 'HMAC-SHA256 key (hex) the worker signs its attempt reports with' }) signingKey!: string;
}

export class JoinTokenListView {
  @ApiProperty({ type: [JoinTokenView] }) joinTokens!: JoinTokenView[];
  @ApiProperty(NEXT_CURSOR_PROPERTY) nextCursor!: string | null;
}
